package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/roamhq/roam/internal/roamdproc"
)

func TestLoadSettings_FaultControl(t *testing.T) {
	s, err := loadSettings([]string{"-data", "/d"}, env(nil), io.Discard)
	if err != nil || s.faultControl != "" {
		t.Fatalf("default: %q %v (want off)", s.faultControl, err)
	}
	for _, bad := range []string{"0.0.0.0:7409", ":7409", "192.168.1.1:7409", "localhost:7409"} {
		if _, err := loadSettings([]string{"-data", "/d", "-fault-control", bad}, env(nil), io.Discard); err == nil || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("-fault-control %s: %v, want a loopback refusal", bad, err)
		}
	}
	s, err = loadSettings([]string{"-data", "/d", "-fault-control", "127.0.0.1:7409"}, env(nil), io.Discard)
	if err != nil || s.faultControl != "127.0.0.1:7409" {
		t.Fatalf("loopback: %q %v", s.faultControl, err)
	}
	if code := run([]string{"-data", "/d", "-fault-control", "10.0.0.1:1"}, env(nil), io.Discard, io.Discard); code != 2 {
		t.Fatalf("non-loopback fault-control: exit %d, want 2", code)
	}
}

// TestRun_FaultControlServesTheNode starts roamd in-process with
// -fault-control and asks the endpoint which partitions the node leads
// (all of them: it is alone) and for a gate reset; it logs a WARN line.
func TestRun_FaultControlServesTheNode(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fc := ln.Addr().String()
	ln.Close()
	args := []string{"-data", t.TempDir(), "-client", "127.0.0.1:0", "-internal", "127.0.0.1:0", "-gossip", "127.0.0.1:0",
		"-partitions", "4", "-log-level", "warn", "-fault-control", fc}
	var stderr roamdproc.Buffer
	p := runReady(t, args, &stderr)
	get := func(method, path string) map[string]any {
		req, _ := http.NewRequest(method, "http://"+fc+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s %s: %d %v", method, path, resp.StatusCode, err)
		}
		return out
	}
	if l := get("GET", "/status/leaders"); len(l["leads"].([]any)) != 4 {
		t.Fatalf("leaders %v, want all 4 partitions", l)
	}
	get("POST", "/faults/gate-reset")
	get("POST", "/faults/gate-drop?p=0.5&for=1s")
	if st := get("GET", "/faults"); st["resets"] != 1.0 || st["gate_drop"] == nil {
		t.Fatalf("status %v", st)
	}
	if !strings.Contains(stderr.String(), "fault-control endpoint is ON") {
		t.Fatalf("no WARN line about the endpoint in %q", stderr.String())
	}
	if code, _ := p.sigterm(); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if _, err := http.Get("http://" + fc + "/faults"); err == nil {
		t.Fatal("the endpoint still answers after the node stopped")
	}
}
