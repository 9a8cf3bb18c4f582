package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gostate/gostate/internal/nstest"
)

// TestKernelRate: with accounting on in a private namespace, a loopback UDP
// flow sending megabytes per second through the namespace's ct state rule
// heads -b rate, above the idle TCP and UDP flows; the one-shot reads the
// table twice and its JSON carries bytes_per_s and packets_per_s; the text
// view shows the Rate column.
func TestKernelRate(t *testing.T) {
	ns := nstest.New(t)
	ns.Exec(t, "sysctl", "-q", "-w", "net.netfilter.nf_conntrack_acct=1")
	ns.LoopbackTraffic(t) // the rule, and two idle flows
	var busy *net.UDPConn
	var port int
	ns.Do(t, func() error {
		srv, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			return err
		}
		t.Cleanup(func() { srv.Close() })
		port = srv.LocalAddr().(*net.UDPAddr).Port
		c, err := net.DialUDP("udp4", nil, srv.LocalAddr().(*net.UDPAddr))
		busy = c
		return err
	})
	// The socket belongs to the namespace whichever thread writes to it.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		payload := make([]byte, 1400)
		for {
			select {
			case <-stop:
				return
			default:
			}
			for range 10 {
				busy.Write(payload) // the receiver's buffer overflows: the output hook counts every datagram
			}
			time.Sleep(time.Millisecond)
		}
	})
	t.Cleanup(func() { close(stop); wg.Wait(); busy.Close() })

	out := runOK(t, "--netns", ns.Name(), "--json", "-b", "rate", "-R", "1")
	var rows []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var r map[string]any
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%v: %s", err, sc.Text())
		}
		rows = append(rows, r)
	}
	if len(rows) < 3 {
		t.Fatalf("%d rows, want the busy flow and the two idle ones:\n%s", len(rows), out)
	}
	top := rows[0]
	if top["proto"] != "udp" || top["dport"] != float64(port) {
		t.Fatalf("-b rate puts %v first, want the busy UDP flow to port %d:\n%s", top, port, out)
	}
	if bps, _ := top["bytes_per_s"].(float64); bps < 1e6 {
		t.Errorf("the busy flow sends %v bytes/s, want over 1 MB/s", top["bytes_per_s"])
	}
	if pps, _ := top["packets_per_s"].(float64); pps < 500 {
		t.Errorf("the busy flow sends %v packets/s, want over 500", top["packets_per_s"])
	}
	for _, r := range rows[1:] {
		if bps, ok := r["bytes_per_s"].(float64); !ok || bps > 1000 {
			t.Errorf("an idle flow's rate: %v (%v)", r["bytes_per_s"], r)
		}
	}

	text := string(runOK(t, "--netns", ns.Name(), "-1", "--rates", "-R", "0.5"))
	if !strings.Contains(text, "Rate") || !strings.Contains(text, "/s") {
		t.Errorf("--rates text has no Rate column:\n%s", text)
	}
	// Plain -C reads once: no Rate column.
	if once := string(runOK(t, "--netns", ns.Name(), "-1", "-C")); strings.Contains(once, "Rate") {
		t.Errorf("-1 -C shows a Rate column:\n%s", once)
	}
	t.Logf("gostate -1 --rates:\n%s", text)
}
