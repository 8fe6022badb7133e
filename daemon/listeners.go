package daemon

import (
	"fmt"
	"net"
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/samlkeyd/samlkeyd/config"
)

// LimitListener returns a listener that holds at most n of ln's
// connections open at once (n <= 0: config.DefaultMaxConnections). Accept
// waits while n are open, so further clients wait in the kernel's accept
// queue instead of costing the daemon a goroutine and buffers each; a
// connection's slot is freed when it is closed. Closing the listener
// releases a waiting Accept. It does what golang.org/x/net/netutil's
// LimitListener does, without adding x/net for thirty lines.
func LimitListener(ln net.Listener, n int) net.Listener {
	if n <= 0 {
		n = config.DefaultMaxConnections
	}
	return &limitListener{Listener: ln, slots: make(chan struct{}, n), done: make(chan struct{})}
}

type limitListener struct {
	net.Listener
	slots     chan struct{} // one value per open connection
	closeOnce sync.Once
	done      chan struct{} // closed by Close
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.slots }}, nil
}

func (l *limitListener) Close() error {
	err := l.Listener.Close()
	l.closeOnce.Do(func() { close(l.done) })
	return err
}

// limitConn frees its listener slot once, at the first Close.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// metricsHandler serves the registry's series, marked nosniff like every
// daemon response.
func (d *Daemon) metricsHandler() http.Handler {
	h := promhttp.HandlerFor(d.registry, promhttp.HandlerOpts{})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		h.ServeHTTP(w, r)
	})
}

// metricsServer returns the server of Options.MetricsListener, with main's
// timeouts and error log, serving GET /metrics and 404 for anything else;
// nil when there is no metrics listener.
func (d *Daemon) metricsServer(main *http.Server) *http.Server {
	if d.opts.MetricsListener == nil {
		return nil
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", d.metricsHandler())
	return &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: main.ReadHeaderTimeout,
		ReadTimeout:       main.ReadTimeout,
		WriteTimeout:      main.WriteTimeout,
		IdleTimeout:       main.IdleTimeout,
		ErrorLog:          main.ErrorLog,
	}
}

// serveMetrics serves srv (from metricsServer; nil does nothing) on the
// metrics listener until it is shut down, sending how it ended to served.
func (d *Daemon) serveMetrics(srv *http.Server, served chan<- error) {
	if srv == nil {
		return
	}
	ln := d.opts.MetricsListener
	go func() { served <- fmt.Errorf("serve metrics on %s: %w", ln.Addr(), srv.Serve(ln)) }()
}
