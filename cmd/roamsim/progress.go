package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/roamhq/roam/sim"
)

// bar is roamsim's progress bar for a terminal: one line, redrawn each
// second, with the elapsed time, an ETA and the rates; log lines (faults)
// are printed above it. On anything but a terminal roamsim prints the
// simulator's line per second instead (scripts and CI read those).
type bar struct {
	mu    sync.Mutex
	w     io.Writer
	run   time.Duration // the run proper (-duration)
	quiet time.Duration // the most the end phase may add (-quiet)
	width int           // of the bar itself, in cells
	shown string        // the line drawn now ("" if none)
	part  []byte        // a log line not ended yet
}

func newBar(w io.Writer, run, quiet time.Duration) *bar {
	return &bar{w: w, run: run, quiet: quiet, width: 20}
}

// tick redraws the bar (sim.Config.OnTick).
func (b *bar) tick(t sim.Tick) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.shown = renderBar(t, b.run, b.quiet, b.width)
	fmt.Fprint(b.w, "\r\x1b[2K"+b.shown)
}

// Write prints log lines above the bar (sim.Config.Log).
func (b *bar) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.part = append(b.part, p...)
	i := strings.LastIndexByte(string(b.part), '\n')
	if i < 0 {
		return len(p), nil
	}
	lines := b.part[:i+1]
	fmt.Fprint(b.w, "\r\x1b[2K")
	b.w.Write(lines)
	b.part = append([]byte(nil), b.part[i+1:]...)
	if b.shown != "" {
		fmt.Fprint(b.w, b.shown)
	}
	return len(p), nil
}

// done ends the bar's line, so that what follows starts on its own.
func (b *bar) done() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.shown != "" {
		fmt.Fprintln(b.w)
		b.shown = ""
	}
}

// renderBar draws one state of the bar (kept under 100 columns, so that
// redrawing it in place works on an ordinary terminal). The run proper
// fills it; the end phase (heal, quiet, presence, final read) waits for
// devices at most quiet more, which the ETA counts as its bound; the
// final read and the checks then take a little longer.
func renderBar(t sim.Tick, run, quiet time.Duration, width int) string {
	frac := 1.0
	if run > 0 && t.Phase == "run" {
		frac = min(max(float64(t.Elapsed)/float64(run), 0), 1)
	}
	full := int(frac * float64(width))
	cells := strings.Repeat("█", full) + strings.Repeat("░", width-full)
	var eta string
	switch left := run + quiet - t.Elapsed; {
	case t.Phase == "run":
		eta = fmt.Sprintf("ETA %s (+≤%s)", short(max(run-t.Elapsed, 0)), short(quiet))
	case left > 0:
		eta = fmt.Sprintf("%s, ≤%s left", t.Phase, short(left))
	default:
		eta = t.Phase + ", finishing"
	}
	return fmt.Sprintf("%s %3.0f%% %s/%s %s  %d/s  acked %d  faults %d",
		cells, frac*100, short(t.Elapsed), short(run), eta, t.SendsPS, t.Acked, t.Faults)
}

// short renders d as 1m05s or 42s.
func short(d time.Duration) string {
	d = d.Round(time.Second)
	if d >= time.Minute {
		return fmt.Sprintf("%dm%02ds", int(d/time.Minute), int(d%time.Minute/time.Second))
	}
	return fmt.Sprintf("%ds", int(d/time.Second))
}
