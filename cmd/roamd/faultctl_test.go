package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
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
	pr, pw := io.Pipe()
	var stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(args, env(nil), pw, &stderr)
		pw.Close()
	}()
	if _, err := bufio.NewReader(pr).ReadString('\n'); err != nil {
		t.Fatalf("no ready line: %v (stderr %s)", err, stderr.String())
	}
	go io.Copy(io.Discard, pr)
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
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("run did not return after SIGTERM")
	}
	if _, err := http.Get("http://" + fc + "/faults"); err == nil {
		t.Fatal("the endpoint still answers after the node stopped")
	}
}

// syncBuffer is a strings.Builder safe for the logger's writes and the
// test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
