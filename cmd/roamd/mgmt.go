package main

import (
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/roamhq/roam/node"
	"github.com/roamhq/roam/node/mgmt"
)

// management is roamd -http ADDR: the read-only management endpoint
// (package node/mgmt) with health, readiness, status and metrics, and
// with -http-pprof the Go profiler. It starts before the node, so that
// /readyz answers 503 while the node starts and joins. A nil
// *management is off and does nothing.
type management struct{ srv *mgmt.Server }

func startManagement(addr string, pprof bool, tokenFile string, logger *slog.Logger) (*management, error) {
	if addr == "" {
		return nil, nil
	}
	token := ""
	if tokenFile != "" {
		b, err := os.ReadFile(tokenFile)
		if err != nil {
			return nil, fmt.Errorf("admin token: %w", err)
		}
		if token = strings.TrimSpace(string(b)); len(token) < 16 {
			return nil, fmt.Errorf("admin token in %s: want at least 16 characters", tokenFile)
		}
	}
	srv, err := mgmt.New(mgmt.Config{Addr: addr, Pprof: pprof, AdminToken: token, Logger: logger})
	if err != nil {
		return nil, err
	}
	if !mgmt.IsLoopback(srv.Addr()) {
		logger.Warn("the management endpoint (-http) has no credentials: make sure only operators can reach it", "addr", srv.Addr())
	}
	return &management{srv}, nil
}

// attach hands the running node (nil if it failed to start) to the
// endpoint.
func (m *management) attach(n *node.Node) {
	if m != nil && n != nil {
		m.srv.Attach(n)
	}
}

// Close stops the endpoint.
func (m *management) Close() {
	if m != nil {
		m.srv.Close()
	}
}
