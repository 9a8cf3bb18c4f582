// Package resolve turns addresses into host names for the `l` key and `-l`
// without ever making the screen or the one-shot view wait for DNS.
//
// iptstate looks every address up again on every refresh, blocking, one row
// at a time. Here a few worker goroutines do the lookups; the screen only reads
// a cache (Name), which queues what it does not know yet and asks for a redraw
// (SetNotify) when answers arrive. The one-shot view resolves the addresses it
// is about to print in one batch with a deadline (ResolveAll), then reads the
// same cache.
//
// Answers, names and "no name" alike, are kept for a fixed time and the cache
// holds a bounded number of them, so a table of a million flows cannot make it
// grow without limit; requests beyond the queue's bound are dropped and asked
// again the next time the address is shown.
//
// The live screen keeps one Resolver while lookups are on:
//
//	r := resolve.New("", 0, 0, 0) // the system's resolver, default bounds
//	defer r.Close()
//	r.SetNotify(func() { app.QueueUpdateDraw(func() {}) })
//	// drawing a row: the name if known, else the address
//	if name, ok := r.Name(f.Orig.Src.Netip(f.Family)); ok { ... }
//
// The one-shot view resolves what it is about to print, then prints:
//
//	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
//	r.ResolveAll(ctx, addrsInPrintOrder)
//	cancel()
package resolve

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gostate/gostate/internal/termsafe"
)

// Defaults for the arguments of New; a zero or negative argument selects them.
const (
	// DefaultWorkers is how many lookups may be in flight at once.
	DefaultWorkers = 4
	// DefaultTTL is how long an answer, positive or negative, is kept.
	DefaultTTL = 10 * time.Minute
	// DefaultMaxEntries bounds the cache: a few screens of distinct addresses
	// cost a few hundred KiB at most.
	DefaultMaxEntries = 4096
)

const (
	// lookupTimeout bounds one lookup, whatever the system's resolv.conf
	// says about timeouts and attempts (its defaults add up to 10 s per server).
	lookupTimeout = 2 * time.Second
	// queueLen bounds the lookups waiting for a worker: about one screenful
	// of addresses (two per row). When the user scrolls faster than DNS
	// answers, requests beyond it are dropped rather than queued without limit.
	queueLen = 128
	// maxNameLen is the longest name DNS can carry in text form (RFC 1035:
	// 255 octets on the wire). Anything longer did not come from DNS and is
	// refused rather than allowed to push the columns off the screen.
	maxNameLen = 253
)

// lookupFunc returns the names for an address in text form, as
// net.Resolver.LookupAddr does.
type lookupFunc func(ctx context.Context, addr string) ([]string, error)

// Resolver caches reverse lookups and performs them in the background.
// Its methods are safe for concurrent use.
type Resolver struct {
	lookup  lookupFunc
	timeout time.Duration
	ttl     time.Duration
	max     int
	now     func() time.Time

	queue   chan request
	base    context.Context // cancelled by Close: stops lookups in flight
	cancel  context.CancelFunc
	workers sync.WaitGroup
	once    sync.Once

	mu       sync.Mutex
	cache    map[netip.Addr]entry
	notify   func()
	notified bool // notify was called and no Name call has happened since
	closed   bool
}

// entry is what the cache knows about one address.
type entry struct {
	name    string    // sanitised; "" when the address has no usable name
	expires time.Time // zero while the first lookup is pending
	pending bool      // a lookup queued by Name is waiting or in flight
	used    bool      // asked for since the last eviction sweep
}

// request is one queued lookup; batch is nil for lookups queued by Name.
type request struct {
	addr  netip.Addr
	batch *batch
}

// batch tracks the lookups of one ResolveAll call.
type batch struct {
	ctx  context.Context
	left atomic.Int64 // lookups not finished, plus one while still queueing
	done chan struct{}
}

// finish records one finished lookup (or the end of queueing).
func (b *batch) finish() {
	if b.left.Add(-1) == 0 {
		close(b.done)
	}
}

// New returns a resolver that asks server ("" = the system's resolver via
// net.Resolver; "127.0.0.53:53" style for a given server, port 53 when
// omitted) with at most workers lookups in flight, caching answers (positive
// and negative) for ttl, bounded to maxEntries. A zero or negative argument
// selects the matching Default constant. A given server is asked with Go's
// own DNS client, which still answers from /etc/hosts first.
//
// Each lookup gives up after 2 seconds; a failure is cached like "no name"
// (or keeps the name an earlier answer gave), so an unreachable server is not
// asked again for every row.
func New(server string, workers int, ttl time.Duration, maxEntries int) *Resolver {
	lookup := net.DefaultResolver.LookupAddr
	if server != "" {
		var d net.Dialer
		lookup = goResolver(serverAddr(server), d.DialContext).LookupAddr
	}
	return newResolver(lookup, workers, ttl, maxEntries, lookupTimeout, time.Now)
}

// serverAddr adds DNS's port to a server given without one.
func serverAddr(server string) string {
	if _, _, err := net.SplitHostPort(server); err != nil {
		return net.JoinHostPort(server, "53")
	}
	return server
}

// goResolver returns Go's DNS client sending every query to server through
// dial, whatever nameservers resolv.conf lists.
func goResolver(server string, dial func(ctx context.Context, network, address string) (net.Conn, error)) *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dial(ctx, network, server)
		},
	}
}

// newResolver is New with the lookup, its timeout and the clock chosen by the
// caller, so tests can use their own.
func newResolver(lookup lookupFunc, workers int, ttl time.Duration, maxEntries int, timeout time.Duration, now func() time.Time) *Resolver {
	if workers <= 0 {
		workers = DefaultWorkers
	}
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	if maxEntries <= 0 {
		maxEntries = DefaultMaxEntries
	}
	r := &Resolver{
		lookup:  lookup,
		timeout: timeout,
		ttl:     ttl,
		max:     maxEntries,
		now:     now,
		queue:   make(chan request, queueLen),
		cache:   make(map[netip.Addr]entry),
	}
	r.base, r.cancel = context.WithCancel(context.Background())
	r.workers.Add(workers)
	for range workers {
		go r.work()
	}
	return r
}

// Name returns the cached, sanitised name for a, or ("", false) when there is
// none yet (a lookup is then queued; Name never waits for it) or a has no
// name. An expired name is still returned while a fresh lookup runs, so names
// on screen do not flicker back to addresses.
func (r *Resolver) Name(a netip.Addr) (string, bool) {
	if !a.IsValid() || a.IsUnspecified() {
		return "", false
	}
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	// The caller is reading names, presumably to draw them: the next answer
	// that changes one deserves a new notification.
	r.notified = false
	e, ok := r.cache[a]
	if ok && (e.pending || now.Before(e.expires)) {
		if !e.used {
			e.used = true
			r.cache[a] = e
		}
		return e.name, e.name != ""
	}
	if !r.closed {
		select {
		case r.queue <- request{addr: a}:
			if !ok && len(r.cache) >= r.max {
				r.evictLocked(now)
			}
			e.pending, e.used = true, true
			r.cache[a] = e
		default:
			// Queue full: forget the request; the next Name call for a
			// asks again.
		}
	}
	return e.name, e.name != ""
}

// SetNotify sets the function called, from a worker goroutine, when an answer
// changed what Name returns. Notifications are coalesced: after one, the next
// comes only after Name has been called again, so a burst of answers costs
// one redraw. f must not block for long; it typically queues a redraw.
func (r *Resolver) SetNotify(f func()) {
	r.mu.Lock()
	r.notify = f
	r.notified = false
	r.mu.Unlock()
}

// ResolveAll looks up the addresses that have no fresh answer yet, duplicates
// once, at most as many as the cache holds (the first ones given win, so pass
// them in display order), and returns when all are answered, ctx is done, or
// the resolver is closed. Lookups still running when ctx ends are abandoned
// and not cached. Afterwards Name returns what was found.
func (r *Resolver) ResolveAll(ctx context.Context, addrs []netip.Addr) {
	todo := r.missing(addrs)
	if len(todo) == 0 {
		return
	}
	b := &batch{ctx: ctx, done: make(chan struct{})}
	b.left.Store(1) // held by this loop, so the batch cannot end while queueing
queueing:
	for _, a := range todo {
		b.left.Add(1)
		select {
		case r.queue <- request{addr: a, batch: b}:
		case <-ctx.Done():
			b.finish()
			break queueing
		case <-r.base.Done():
			b.finish()
			break queueing
		}
	}
	b.finish()
	select {
	case <-b.done:
	case <-ctx.Done():
	case <-r.base.Done():
	}
}

// missing returns the distinct valid addresses in addrs without a fresh
// answer, at most r.max of them.
func (r *Resolver) missing(addrs []netip.Addr) []netip.Addr {
	now := r.now()
	seen := make(map[netip.Addr]struct{})
	var todo []netip.Addr
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	for _, a := range addrs {
		if len(todo) == r.max {
			break
		}
		if !a.IsValid() || a.IsUnspecified() {
			continue
		}
		if e, ok := r.cache[a]; ok && !e.pending && now.Before(e.expires) {
			continue
		}
		if _, dup := seen[a]; dup {
			continue
		}
		seen[a] = struct{}{}
		todo = append(todo, a)
	}
	return todo
}

// Close stops the workers and abandons lookups in flight. Name keeps
// answering from the cache but queues nothing more. Close may be called more
// than once.
func (r *Resolver) Close() {
	r.once.Do(func() {
		r.mu.Lock()
		r.closed = true
		r.mu.Unlock()
		r.cancel()
		r.workers.Wait()
	})
}

// work performs queued lookups until the resolver is closed.
func (r *Resolver) work() {
	defer r.workers.Done()
	for {
		select {
		case <-r.base.Done():
			return
		case req := <-r.queue:
			r.resolve(req)
		}
	}
}

// resolve performs one lookup and caches its answer.
func (r *Resolver) resolve(req request) {
	parent := r.base
	if req.batch != nil {
		defer req.batch.finish()
		parent = req.batch.ctx
	}
	if parent.Err() != nil || r.base.Err() != nil {
		return // its ResolveAll gave up, or the resolver is closed
	}
	ctx, cancel := context.WithTimeout(parent, r.timeout)
	defer cancel()
	if req.batch != nil {
		stop := context.AfterFunc(r.base, cancel)
		defer stop()
	}
	names, err := r.lookup(ctx, req.addr.String())
	if parent.Err() != nil || r.base.Err() != nil {
		return // cut short by us, not an answer from DNS
	}
	// Names that came with an error still count: Go's resolver drops
	// malformed records and reports the rest alongside an error.
	name := pick(names)
	// A failure (timeout, refusal) is cached as "no name", except that a
	// name already known stays for another TTL, as RFC 8767 (serve-stale)
	// recommends: a flapping DNS server must not turn names back into
	// addresses. Only an authoritative "no such name" removes it.
	var dnsErr *net.DNSError
	keepOld := name == "" && err != nil && !(errors.As(err, &dnsErr) && dnsErr.IsNotFound)
	r.store(req.addr, name, keepOld)
}

// pick returns the first usable name, cleaned for the screen, or "".
func pick(names []string) string {
	for _, n := range names {
		if c := clean(n); c != "" {
			return c
		}
	}
	return ""
}

// clean returns name as the screen shows it: without the trailing dot and
// with control characters (terminal escape sequences) replaced; "" for names
// too long to have come from DNS.
func clean(name string) string {
	name = strings.TrimSuffix(name, ".")
	if len(name) > maxNameLen {
		return ""
	}
	return termsafe.Sanitize(name)
}

// store caches an answer, or keeps the name already known if keepOld, and
// notifies when that changes what Name returns.
func (r *Resolver) store(a netip.Addr, name string, keepOld bool) {
	now := r.now()
	r.mu.Lock()
	old, ok := r.cache[a]
	if !ok && len(r.cache) >= r.max {
		r.evictLocked(now)
	}
	if keepOld {
		name = old.name
	}
	r.cache[a] = entry{name: name, expires: now.Add(r.ttl), used: true}
	notify := r.notify
	fire := notify != nil && !r.notified && name != old.name
	if fire {
		r.notified = true
	}
	r.mu.Unlock()
	if fire {
		notify()
	}
}

// evictLocked makes room for at least one entry, freeing an eighth of the
// cache at once so that a flood of new addresses costs one sweep per
// max/8 insertions. Like the CLOCK page-replacement algorithm, the first pass
// drops expired answers and entries not asked for since the previous sweep,
// and gives the others a second chance by clearing their used bit; if that
// freed too little, the second pass drops whatever it meets (Go's map order
// is random, so that is a random choice). Pending entries survive the first
// pass: their answer is on its way.
func (r *Resolver) evictLocked(now time.Time) {
	target := r.max * 7 / 8
	for pass := 0; pass < 2 && len(r.cache) > target; pass++ {
		for a, e := range r.cache {
			if len(r.cache) <= target {
				break
			}
			switch {
			case pass == 1, !e.used, !e.pending && !now.Before(e.expires):
				delete(r.cache, a)
			default:
				e.used = false
				r.cache[a] = e
			}
		}
	}
}
