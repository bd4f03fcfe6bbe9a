package main

import (
	"slices"
	"testing"
)

// TestRedirect_StateKeepsNodes: the nodes the last session knew are
// tried after the saved addresses, unless --addr or ROAM_ADDR names the
// nodes to use.
func TestRedirect_StateKeepsNodes(t *testing.T) {
	vars := map[string]string{}
	a := &app{env: env{getenv: func(k string) string { return vars[k] }}, st: State{Addrs: []string{"a:1"}, Nodes: []string{"b:1", "a:1", "c:1"}}}
	if got := a.dialAddrs(); !slices.Equal(got, []string{"a:1", "b:1", "c:1"}) {
		t.Fatalf("saved state: %v", got)
	}
	a.addrFlag = "x:1"
	if got := a.dialAddrs(); !slices.Equal(got, []string{"x:1"}) {
		t.Fatalf("with --addr: %v", got)
	}
	a.addrFlag, vars["ROAM_ADDR"] = "", "y:1"
	if got := a.dialAddrs(); !slices.Equal(got, []string{"y:1"}) {
		t.Fatalf("with ROAM_ADDR: %v", got)
	}
}
