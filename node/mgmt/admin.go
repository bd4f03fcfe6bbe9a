package mgmt

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"
)

// The admin endpoints: POST /admin/drain and POST /admin/undrain, the
// only requests that change the node. They need Config.AdminToken as a
// bearer token; without a configured token they do not exist (404).
// OPERATIONS.md has the drain runbook.

// Drainer is a Source that can drain (*node.Node implements it).
type Drainer interface {
	Drain() error
	Undrain() error
}

// withAdmin serves /admin/ itself and hands everything else to next.
func (s *Server) withAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/admin/") {
			next.ServeHTTP(w, r)
			return
		}
		s.handleAdmin(w, r)
	})
}

func (s *Server) handleAdmin(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	var op func(Drainer) error
	switch r.URL.Path {
	case "/admin/drain":
		op = Drainer.Drain
	case "/admin/undrain":
		op = Drainer.Undrain
	}
	if s.cfg.AdminToken == "" || op == nil {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(s.cfg.AdminToken)) != 1 {
		s.log.Warn("admin request refused: bad or missing token", "path", r.URL.Path, "remote", r.RemoteAddr)
		w.Header().Set("WWW-Authenticate", `Bearer realm="roam"`)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	d, ok := s.source().(Drainer)
	if !ok {
		http.Error(w, "starting", http.StatusServiceUnavailable)
		return
	}
	if err := op(d); err != nil {
		http.Error(w, err.Error(), http.StatusConflict)
		return
	}
	s.log.Info("admin request", "path", r.URL.Path, "remote", r.RemoteAddr)
	fmt.Fprintln(w, "ok")
}
