package mgmt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/roamhq/roam/node"
)

// Source is the node the endpoint describes (*node.Node implements it).
type Source interface {
	Readiness() node.Readiness
	Status() node.Status
	Metrics() node.Metrics
}

// Server is a running management endpoint.
type Server struct {
	cfg  Config
	log  *slog.Logger
	ln   net.Listener
	http *http.Server
	src  atomic.Pointer[sourceBox]
	reg  *prometheus.Registry

	wg        sync.WaitGroup
	closeOnce sync.Once
}

type sourceBox struct{ s Source }

// New validates cfg (zero timeouts take the defaults), listens on
// cfg.Addr and starts serving. Until Attach, /readyz and /status answer
// 503 ("starting") and /metrics has only the process's own series and
// roam_ready 0.
func New(cfg Config) (*Server, error) {
	d := DefaultConfig()
	if cfg.ReadHeaderTimeout == 0 {
		cfg.ReadHeaderTimeout = d.ReadHeaderTimeout
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = d.WriteTimeout
	}
	if cfg.Pprof {
		cfg.WriteTimeout = max(cfg.WriteTimeout, 2*time.Minute)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: logger.With("component", "mgmt"), reg: prometheus.NewRegistry()}
	s.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newCollector(s.source),
	)
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", s.handleHealth)
	mux.HandleFunc("/readyz", s.handleReady)
	mux.HandleFunc("/status", s.handleStatus)
	mux.Handle("/metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{
		ErrorLog:      slogPrinter{s.log},
		ErrorHandling: promhttp.ContinueOnError,
	}))
	if cfg.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("mgmt: listen: %w", err)
	}
	s.ln = ln
	s.http = &http.Server{
		Handler:           s.withAdmin(readOnly(mux)),
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       time.Minute,
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("serve", "err", err)
		}
	}()
	s.log.Info("management endpoint listening", "addr", ln.Addr().String(), "pprof", cfg.Pprof)
	return s, nil
}

// Addr returns the bound address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Attach hands the running node to the endpoint.
func (s *Server) Attach(src Source) {
	if src != nil {
		s.src.Store(&sourceBox{src})
	}
}

func (s *Server) source() Source {
	if b := s.src.Load(); b != nil {
		return b.s
	}
	return nil
}

// Close stops the server, waiting up to 5 s for requests in progress. It
// is safe to call more than once.
func (s *Server) Close() error {
	var err error
	s.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err = s.http.Shutdown(ctx); err != nil {
			s.http.Close()
		}
		s.wg.Wait()
	})
	return err
}

// readOnly refuses every method but GET and HEAD: nothing behind it
// changes the node (the admin endpoints are served before it, admin.go).
func readOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "read-only endpoint: GET or HEAD", http.StatusMethodNotAllowed)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// handleHealth answers 200 while the process serves HTTP at all.
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "ok")
}

// handleReady answers 200 "ready" when the node is serving, else 503 with
// the reasons, one per line.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	src := s.source()
	if src == nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "not ready: starting")
		return
	}
	rd := src.Readiness()
	if !rd.Ready {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "not ready: "+strings.Join(rd.Reasons, "; "))
		return
	}
	fmt.Fprintln(w, "ready")
}

// handleStatus answers the node's Status as JSON.
func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	src := s.source()
	if src == nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		json.NewEncoder(w).Encode(map[string]string{"error": "starting"})
		return
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(src.Status()); err != nil {
		s.log.Debug("write status", "err", err)
	}
}

// slogPrinter adapts promhttp's error log to slog.
type slogPrinter struct{ l *slog.Logger }

func (p slogPrinter) Println(v ...any) { p.l.Warn("metrics", "err", fmt.Sprint(v...)) }
