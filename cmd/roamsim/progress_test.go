package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/roamhq/roam/sim"
)

func TestRenderBar_FillsWithTheRunAndSaysWhatIsLeft(t *testing.T) {
	half := renderBar(sim.Tick{Elapsed: 45 * time.Second, Phase: "run", SendsPS: 200, Sent: 9000, Acked: 8990, Faults: 3}, 90*time.Second, 20*time.Second, 10)
	for _, want := range []string{"█████░░░░░", " 50%", "45s/1m30s", "ETA 45s (+≤20s)", "200/s", "acked 8990", "faults 3"} {
		if !strings.Contains(half, want) {
			t.Errorf("half-way bar %q lacks %q", half, want)
		}
	}
	end := renderBar(sim.Tick{Elapsed: 100 * time.Second, Phase: "quiet"}, 90*time.Second, 20*time.Second, 10)
	if !strings.Contains(end, "██████████") || !strings.Contains(end, "100%") || !strings.Contains(end, "quiet, ≤10s left") {
		t.Errorf("end-phase bar %q", end)
	}
	over := renderBar(sim.Tick{Elapsed: 200 * time.Second, Phase: "run"}, 90*time.Second, 20*time.Second, 10)
	if !strings.Contains(over, "100%") || !strings.Contains(over, "ETA 0s") {
		t.Errorf("overrun bar %q", over)
	}
	late := renderBar(sim.Tick{Elapsed: 115 * time.Second, Phase: "final-read", Sent: 12345678, Acked: 12345678, Faults: 999, SendsPS: 9999}, 90*time.Second, 20*time.Second, 20)
	if !strings.Contains(late, "final-read, finishing") {
		t.Errorf("bar past the quiet bound %q", late)
	}
	if n := len([]rune(late)); n >= 100 {
		t.Errorf("bar of %d columns: %q", n, late)
	}
}

// TestBar_LogLinesGoAboveTheBar: a log line clears the bar's line, is
// printed whole, and the bar is drawn again under it.
func TestBar_LogLinesGoAboveTheBar(t *testing.T) {
	var out bytes.Buffer
	b := newBar(&out, 10*time.Second, time.Second)
	b.tick(sim.Tick{Elapsed: time.Second, Phase: "run"})
	b.Write([]byte("[   1.0s] fault kill "))
	if strings.Contains(out.String(), "kill") {
		t.Fatal("half a log line was printed")
	}
	b.Write([]byte("node2\n"))
	b.done()
	s := out.String()
	i := strings.Index(s, "\r\x1b[2K[   1.0s] fault kill node2\n")
	if i < 0 {
		t.Fatalf("log line not printed on a cleared line: %q", s)
	}
	if !strings.Contains(s[i:], "10%") || !strings.HasSuffix(s, "\n") {
		t.Fatalf("bar not redrawn under the log line, or its line not ended: %q", s)
	}
}
