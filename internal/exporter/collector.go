package exporter

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gostate/gostate/internal/flow"
)

// counter is one of the kernel's per-CPU statistics as exported.
type counter struct {
	bit  flow.CPUCounters
	name string
	help string
	// node is node_exporter's help for its node_nf_conntrack_stat_ gauge
	// of the same name; "" when node_exporter has none.
	node string
}

// counters are the per-CPU statistics ctnetlink and /proc report (ignore is
// no longer counted by Linux 5.x and is left out), with node_exporter's
// help texts for the ones its conntrack collector exports.
var counters = []counter{
	{flow.CounterFound, "found", "Searched entries that were found, summed over the CPUs.",
		"Number of searched entries which were successful."},
	{flow.CounterInvalid, "invalid", "Packets that could not be tracked, summed over the CPUs.",
		"Number of packets seen which can not be tracked."},
	{flow.CounterInsert, "insert", "Entries inserted into the table, summed over the CPUs.",
		"Number of entries inserted into the list."},
	{flow.CounterInsertFailed, "insert_failed", "Entries whose insertion failed (a clash not resolved), summed over the CPUs.",
		"Number of entries for which list insertion was attempted but failed."},
	{flow.CounterDrop, "drop", "Packets dropped because a new entry could not be made (a full table), summed over the CPUs.",
		"Number of packets dropped due to conntrack failure."},
	{flow.CounterEarlyDrop, "early_drop", "Unassured entries evicted to make room for new ones in a full table, summed over the CPUs.",
		"Number of dropped conntrack entries to make room for new ones, if maximum table size was reached."},
	{flow.CounterError, "error", "Packets with an ICMP error that matched no entry, summed over the CPUs.", ""},
	{flow.CounterSearchRestart, "search_restart", "Lookups restarted because the hash table changed, summed over the CPUs.",
		"Number of conntrack table lookups which had to be restarted due to hashtable resizes."},
	{flow.CounterClashResolve, "clash_resolve", "Insertion clashes resolved, summed over the CPUs.", ""},
	{flow.CounterChainTooLong, "chaintoolong", "Entries refused because their hash chain was too long, summed over the CPUs.", ""},
}

// descs are the collector's metric descriptions, made once per label set.
type descs struct {
	entries, limit, buckets, bytesPer, memory *prometheus.Desc
	stat                                      []*prometheus.Desc
	flows                                     *prometheus.Desc
	unreplied, assured, snat, dnat            *prometheus.Desc
	distinct, largest, top                    *prometheus.Desc
	readTook, readAt, readErrors              *prometheus.Desc
	nodeEntries, nodeLimit                    *prometheus.Desc
	nodeStat                                  []*prometheus.Desc
}

// newDescs describes every metric, each with the netns label when withNetNS.
func newDescs(withNetNS, nodeCompat bool) *descs {
	var base []string
	if withNetNS {
		base = []string{"netns"}
	}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, append(append([]string(nil), base...), labels...), nil)
	}
	ds := &descs{
		entries:    d("gostate_conntrack_entries", "Entries in the conntrack table."),
		limit:      d("gostate_conntrack_entries_limit", "The table's limit, nf_conntrack_max."),
		buckets:    d("gostate_conntrack_buckets", "Buckets of the kernel's conntrack hash table, nf_conntrack_buckets."),
		bytesPer:   d("gostate_conntrack_bytes_per_entry", "Kernel memory of one entry: the nf_conntrack slab object, without extensions."),
		memory:     d("gostate_conntrack_memory_bytes", "Kernel memory of the entries: entries times bytes per entry."),
		flows:      d("gostate_conntrack_flows", "Entries by address family, protocol and state (the protocol's state, or for protocols without one UNREPLIED, REPLIED, ASSURED or OFFLOAD).", "family", "protocol", "state"),
		unreplied:  d("gostate_conntrack_flows_unreplied", "Entries that have seen no reply."),
		assured:    d("gostate_conntrack_flows_assured", "Entries the kernel marked assured."),
		snat:       d("gostate_conntrack_flows_snat", "Entries with source NAT."),
		dnat:       d("gostate_conntrack_flows_dnat", "Entries with destination NAT."),
		distinct:   d("gostate_conntrack_distinct_sources", "Distinct original source addresses."),
		largest:    d("gostate_conntrack_largest_source_entries", "Entries of the source address with most."),
		top:        d("gostate_conntrack_top_source_entries", "Entries of the biggest groups by the --top-sources-by key; series come and go as groups do.", "source"),
		readTook:   d("gostate_read_duration_seconds", "How long the last read of the table took."),
		readAt:     d("gostate_last_read_timestamp_seconds", "When the last successful read of the table ended, in seconds since the epoch."),
		readErrors: d("gostate_read_errors_total", "Reads of the table that failed."),
	}
	for _, c := range counters {
		ds.stat = append(ds.stat, d("gostate_conntrack_stat_"+c.name+"_total", c.help))
	}
	if nodeCompat {
		ds.nodeEntries = d("node_nf_conntrack_entries", "Number of currently allocated flow entries for connection tracking.")
		ds.nodeLimit = d("node_nf_conntrack_entries_limit", "Maximum size of connection tracking table.")
		for _, c := range counters {
			var nd *prometheus.Desc
			if c.node != "" {
				nd = d("node_nf_conntrack_stat_"+c.name, c.node)
			}
			ds.nodeStat = append(ds.nodeStat, nd)
		}
	}
	return ds
}

// all returns every description, for Describe.
func (ds *descs) all() []*prometheus.Desc {
	out := []*prometheus.Desc{
		ds.entries, ds.limit, ds.buckets, ds.bytesPer, ds.memory, ds.flows,
		ds.unreplied, ds.assured, ds.snat, ds.dnat, ds.distinct, ds.largest, ds.top,
		ds.readTook, ds.readAt, ds.readErrors,
	}
	out = append(out, ds.stat...)
	if ds.nodeEntries != nil {
		out = append(out, ds.nodeEntries, ds.nodeLimit)
		for _, nd := range ds.nodeStat {
			if nd != nil {
				out = append(out, nd)
			}
		}
	}
	return out
}

// collector is the prometheus.Collector of an Exporter: every scrape builds
// the metrics afresh from each target's last Summary, and never reads the
// table itself.
type collector struct {
	e *Exporter
}

// Describe sends every metric's description.
func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.e.descs.all() {
		ch <- d
	}
}

// Collect sends the metrics of every target still exported.
func (c collector) Collect(ch chan<- prometheus.Metric) {
	ds := c.e.descs
	for _, t := range c.e.targets {
		if t.gone.Load() {
			continue
		}
		var base []string
		if c.e.opts.NetNSLabel {
			base = []string{t.Name}
		}
		gauge := func(d *prometheus.Desc, v float64, labels ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append(base, labels...)...)
		}
		ch <- prometheus.MustNewConstMetric(ds.readErrors, prometheus.CounterValue, float64(t.errors.Load()), base...)
		s := t.last.Load()
		if s == nil {
			// No read has succeeded yet: nothing is known of the table.
			continue
		}
		gauge(ds.readTook, s.ReadTook.Seconds())
		gauge(ds.readAt, float64(s.ReadAt.UnixNano())/1e9)
		st := &s.Stats
		gauge(ds.entries, float64(st.Entries))
		if st.Max > 0 {
			gauge(ds.limit, float64(st.Max))
		}
		if st.Buckets > 0 {
			gauge(ds.buckets, float64(st.Buckets))
		}
		if st.BytesPerEntry > 0 {
			gauge(ds.bytesPer, float64(st.BytesPerEntry))
			gauge(ds.memory, float64(st.MemoryBytes()))
		}
		if ds.nodeEntries != nil {
			gauge(ds.nodeEntries, float64(st.Entries))
			if st.Max > 0 {
				gauge(ds.nodeLimit, float64(st.Max))
			}
		}
		if st.HaveCPU {
			for i, k := range counters {
				if st.CPU.Has&k.bit == 0 {
					continue
				}
				v := float64(*st.CPU.Counter(k.bit))
				ch <- prometheus.MustNewConstMetric(ds.stat[i], prometheus.CounterValue, v, base...)
				// node_exporter types these as gauges.
				if ds.nodeStat != nil && ds.nodeStat[i] != nil {
					gauge(ds.nodeStat[i], v)
				}
			}
		}
		if !s.Rows {
			continue
		}
		for _, f := range s.Flows {
			gauge(ds.flows, float64(f.Entries), f.Family, f.Protocol, f.State)
		}
		gauge(ds.unreplied, float64(s.Unreplied))
		gauge(ds.assured, float64(s.Assured))
		gauge(ds.snat, float64(s.SNAT))
		gauge(ds.dnat, float64(s.DNAT))
		gauge(ds.distinct, float64(s.DistinctSources))
		gauge(ds.largest, float64(s.LargestSource))
		for _, ts := range s.Top {
			gauge(ds.top, float64(ts.Entries), ts.Source)
		}
	}
}
