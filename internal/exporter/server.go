package exporter

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// ParseListen reads --listen's address: a bare PORT is 127.0.0.1:PORT, so
// that the figures of the table are not offered to the network by accident;
// :PORT binds every address, only when written so; HOST:PORT and
// [IPv6]:PORT bind that address (an IP address or localhost). Port 0 lets
// the system choose one.
func ParseListen(s string) (string, error) {
	if isPort(s) {
		return net.JoinHostPort("127.0.0.1", s), nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", errors.New("want PORT (127.0.0.1:PORT), :PORT (every address), HOST:PORT or [IPv6]:PORT")
	}
	if !isPort(port) {
		return "", fmt.Errorf("port %q: want 0 to 65535", port)
	}
	if host == "" || host == "localhost" {
		return s, nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || ip.Zone() != "" {
		return "", fmt.Errorf("host %q: want an IP address or localhost", host)
	}
	return s, nil
}

// isPort reports whether s is a port number from 0 to 65535, in digits only.
func isPort(s string) bool {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return false
	}
	n, err := strconv.Atoi(s)
	return err == nil && n <= 65535
}

// indexPage is what / shows: where the metrics are.
const indexPage = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>gostate exporter</title></head>
<body><h1>gostate exporter</h1>
<p>The conntrack table's figures for Prometheus: <a href="/metrics">/metrics</a>.</p>
</body></html>
`

// Handler returns the exporter's HTTP handler: /metrics (the exporter's
// metrics, with the Go runtime's and the process's), / a short page that
// links it, every other path 404.
func (e *Exporter) Handler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(e.Collector(), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(indexPage))
	})
	return mux
}

// NewServer returns the HTTP server of h with timeouts: a client that sends
// slowly or never reads its answer does not hold a connection for ever. A
// scrape only formats the last read's figures, which takes milliseconds.
func NewServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
	}
}
