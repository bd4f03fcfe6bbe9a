package faultctl

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Target is the node the faults act on (node.Node implements it).
type Target interface {
	ID() string
	// ResetGateConnections closes every gate connection and returns how
	// many it closed.
	ResetGateConnections() int
	// LeaderPartitions lists the partitions this node leads.
	LeaderPartitions() []uint16
}

// Server is a running fault-control endpoint.
type Server struct {
	cfg    Config
	log    *slog.Logger
	ln     net.Listener
	http   *http.Server
	target atomic.Pointer[targetBox]
	drops  dropper

	resetMu     sync.Mutex
	resetStop   context.CancelFunc // stops the reset loop in force
	resetUntil  time.Time
	resets      atomic.Uint64
	connsClosed atomic.Uint64

	wg        sync.WaitGroup
	closeOnce sync.Once
}

type targetBox struct{ t Target }

// New validates cfg (zero MaxFor and MinEvery take the defaults), listens on cfg.Addr and starts serving. Endpoints that
// need the node answer 503 until Attach.
func New(cfg Config) (*Server, error) {
	d := DefaultConfig()
	if cfg.MaxFor == 0 {
		cfg.MaxFor = d.MaxFor
	}
	if cfg.MinEvery == 0 {
		cfg.MinEvery = d.MinEvery
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("faultctl: listen: %w", err)
	}
	if err := CheckLoopback(ln.Addr().String()); err != nil { // "localhost" tricks and the like
		ln.Close()
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: logger.With("component", "faultctl"), ln: ln}
	s.drops.now = time.Now
	mux := http.NewServeMux()
	mux.HandleFunc("/faults/gate-drop", s.handleGateDrop)
	mux.HandleFunc("/faults/gate-reset", s.handleGateReset)
	mux.HandleFunc("/faults", s.handleFaults)
	mux.HandleFunc("/status/leaders", s.handleLeaders)
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelDebug)}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.http.Serve(ln)
	}()
	s.log.Warn("fault-control endpoint is ON: anyone who can reach it can make this node drop internal messages; never enable it in production", "addr", s.Addr())
	return s, nil
}

// Addr is the bound address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Attach gives the server the running node.
func (s *Server) Attach(t Target) { s.target.Store(&targetBox{t}) }

// DropOneWay is the gate's Config.DropOneWay: it drops the item when a
// gate-drop fault in force says so.
func (s *Server) DropOneWay(kind string) bool { return s.drops.drop(kind) }

// Close ends every fault, stops the server and waits for its goroutines.
// It is safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.clear()
		s.http.Close()
		s.wg.Wait()
	})
	return nil
}

// clear ends every fault in force.
func (s *Server) clear() {
	s.drops.rule.Store(nil)
	s.resetMu.Lock()
	if s.resetStop != nil {
		s.resetStop()
		s.resetStop = nil
	}
	s.resetMu.Unlock()
}

func (s *Server) node(w http.ResponseWriter) Target {
	if b := s.target.Load(); b != nil {
		return b.t
	}
	httpError(w, http.StatusServiceUnavailable, "the node is not running yet")
	return nil
}

var kindRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

func (s *Server) handleGateDrop(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		httpError(w, http.StatusMethodNotAllowed, "POST only")
		return
	}
	q := r.URL.Query()
	p, err := strconv.ParseFloat(q.Get("p"), 64)
	if err != nil || !(p > 0 && p <= 1) {
		httpError(w, http.StatusBadRequest, "p must be a probability in (0, 1]")
		return
	}
	d, err := s.duration(q.Get("for"), true)
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	var kinds map[string]bool
	if ks := q.Get("kinds"); ks != "" && ks != "all" {
		kinds = map[string]bool{}
		for _, k := range strings.Split(ks, ",") {
			if !kindRE.MatchString(k) {
				httpError(w, http.StatusBadRequest, fmt.Sprintf("kind %q: want lower-case names such as deliver, cancel, notify, presence", k))
				return
			}
			kinds[k] = true
		}
	}
	seed := rand.Uint64()
	if v := q.Get("seed"); v != "" {
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			httpError(w, http.StatusBadRequest, "seed must be a whole number")
			return
		}
	}
	rule := &dropRule{p: p, kinds: kinds, until: s.drops.now().Add(d), rng: rand.New(rand.NewPCG(seed, 0xd209))}
	s.drops.rule.Store(rule)
	s.log.Warn("fault: dropping one-way gate items", "p", p, "kinds", rule.kindList(), "for", d)
	writeJSON(w, map[string]any{"ok": true, "p": p, "kinds": rule.kindList(), "for_ms": d.Milliseconds()})
}

func (s *Server) handleGateReset(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		httpError(w, http.StatusMethodNotAllowed, "POST only")
		return
	}
	t := s.node(w)
	if t == nil {
		return
	}
	q := r.URL.Query()
	d, err := s.duration(q.Get("for"), false)
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	every := 250 * time.Millisecond
	if v := q.Get("every"); v != "" {
		if every, err = time.ParseDuration(v); err != nil || every < s.cfg.MinEvery {
			httpError(w, http.StatusBadRequest, fmt.Sprintf("every must be a duration of at least %v", s.cfg.MinEvery))
			return
		}
	}
	closed := s.reset(t)
	if d > 0 {
		s.startResetLoop(t, d, every)
	}
	s.log.Warn("fault: resetting gate connections", "for", d, "every", every, "closed_now", closed)
	writeJSON(w, map[string]any{"ok": true, "closed": closed, "for_ms": d.Milliseconds(), "every_ms": every.Milliseconds()})
}

// reset closes the node's gate connections once.
func (s *Server) reset(t Target) int {
	n := t.ResetGateConnections()
	s.resets.Add(1)
	s.connsClosed.Add(uint64(n))
	return n
}

// startResetLoop replaces the reset loop in force with one that resets
// every `every` for d.
func (s *Server) startResetLoop(t Target, d, every time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	s.resetMu.Lock()
	if s.resetStop != nil {
		s.resetStop()
	}
	s.resetStop, s.resetUntil = cancel, time.Now().Add(d)
	s.wg.Add(1)
	s.resetMu.Unlock()
	go func() {
		defer s.wg.Done()
		defer cancel()
		tk := time.NewTicker(every)
		defer tk.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tk.C:
				s.reset(t)
			}
		}
	}()
}

func (s *Server) handleFaults(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		writeJSON(w, s.Status())
	case http.MethodDelete:
		s.clear()
		s.log.Warn("fault: every fault ended")
		writeJSON(w, map[string]any{"ok": true})
	default:
		httpError(w, http.StatusMethodNotAllowed, "GET or DELETE")
	}
}

// Status is the answer of GET /faults.
type Status struct {
	GateDrop *DropStatus `json:"gate_drop,omitempty"` // the drop rule in force
	// ResetLeftMs is how long the reset loop in force still runs (0: none).
	ResetLeftMs int64             `json:"reset_left_ms"`
	Dropped     map[string]uint64 `json:"dropped"` // items dropped, per kind
	Passed      map[string]uint64 `json:"passed"`  // items let through while a drop rule was in force
	Resets      uint64            `json:"resets"`
	ConnsClosed uint64            `json:"conns_closed"`
}

// DropStatus describes the drop rule in force.
type DropStatus struct {
	P      float64  `json:"p"`
	Kinds  []string `json:"kinds"`
	LeftMs int64    `json:"left_ms"`
}

// Status reports the faults in force and the counters.
func (s *Server) Status() Status {
	st := Status{Dropped: s.drops.dropped.snapshot(), Passed: s.drops.passed.snapshot(), Resets: s.resets.Load(), ConnsClosed: s.connsClosed.Load()}
	if r := s.drops.rule.Load(); r != nil {
		if left := time.Until(r.until); left > 0 {
			st.GateDrop = &DropStatus{P: r.p, Kinds: r.kindList(), LeftMs: left.Milliseconds()}
		}
	}
	s.resetMu.Lock()
	if s.resetStop != nil {
		st.ResetLeftMs = max(time.Until(s.resetUntil).Milliseconds(), 0)
	}
	s.resetMu.Unlock()
	return st
}

// Leaders is the answer of GET /status/leaders.
type Leaders struct {
	Node  string   `json:"node"`
	Leads []uint16 `json:"leads"`
}

func (s *Server) handleLeaders(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		httpError(w, http.StatusMethodNotAllowed, "GET only")
		return
	}
	t := s.node(w)
	if t == nil {
		return
	}
	l := Leaders{Node: t.ID(), Leads: t.LeaderPartitions()}
	if l.Leads == nil {
		l.Leads = []uint16{}
	}
	writeJSON(w, l)
}

// duration parses for=: required (positive, at most MaxFor) or optional
// (absent means 0).
func (s *Server) duration(v string, required bool) (time.Duration, error) {
	if v == "" && !required {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 || d > s.cfg.MaxFor {
		return 0, fmt.Errorf("for must be a duration in (0, %v], such as 3s", s.cfg.MaxFor)
	}
	return d, nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
