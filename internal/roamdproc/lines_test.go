package roamdproc

import (
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
)

func collect() (*[]string, func(string)) {
	var mu sync.Mutex
	var lines []string
	return &lines, func(s string) {
		mu.Lock()
		lines = append(lines, s)
		mu.Unlock()
	}
}

func TestLineWriter_WholeLinesWithPrefix(t *testing.T) {
	lines, out := collect()
	w := &LineWriter{Prefix: "n1: ", Out: out}
	for _, chunk := range []string{"one\ntw", "o", "\n\nthree\r\nfour"} {
		if n, err := w.Write([]byte(chunk)); n != len(chunk) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", chunk, n, err)
		}
	}
	want := []string{"n1: one", "n1: two", "n1: ", "n1: three"}
	if !slices.Equal(*lines, want) {
		t.Fatalf("lines %q, want %q", *lines, want)
	}
	w.Flush()
	if want = append(want, "n1: four"); !slices.Equal(*lines, want) {
		t.Fatalf("after Flush: %q, want %q", *lines, want)
	}
	w.Flush() // nothing left
	w.Stop()
	w.Write([]byte("five\n"))
	if !slices.Equal(*lines, want) {
		t.Fatalf("after Stop: %q, want %q", *lines, want)
	}
}

func TestLineWriter_TimeLayout(t *testing.T) {
	lines, out := collect()
	w := &LineWriter{Prefix: "p ", TimeLayout: "15:04:05.000", Out: out}
	w.Write([]byte("x\n"))
	if len(*lines) != 1 || !regexp.MustCompile(`^\d\d:\d\d:\d\d\.\d{3} p x$`).MatchString((*lines)[0]) {
		t.Fatalf("lines %q", *lines)
	}
}

// TestLineWriter_ConcurrentLinesStayWhole: lines written whole from many
// goroutines arrive whole.
func TestLineWriter_ConcurrentLinesStayWhole(t *testing.T) {
	lines, out := collect()
	w := &LineWriter{Out: out}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				fmt.Fprintf(w, "g%d line %d\n", g, i)
			}
		}()
	}
	wg.Wait()
	if len(*lines) != 800 {
		t.Fatalf("%d lines, want 800", len(*lines))
	}
	for _, l := range *lines {
		if !regexp.MustCompile(`^g\d line \d+$`).MatchString(l) {
			t.Fatalf("torn line %q", l)
		}
	}
}

// fakeTB records what TestLog sends and runs its cleanups on demand.
type fakeTB struct {
	logged   []string
	cleanups []func()
}

func (f *fakeTB) Log(args ...any)   { f.logged = append(f.logged, fmt.Sprint(args...)) }
func (f *fakeTB) Helper()           {}
func (f *fakeTB) Cleanup(fn func()) { f.cleanups = append(f.cleanups, fn) }
func (f *fakeTB) runCleanups() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
}

func TestTestLogger_SilentAfterCleanup(t *testing.T) {
	tb := &fakeTB{}
	log := TestLogger(tb, slog.LevelInfo)
	log.Debug("hidden")
	log.Info("shown", "k", 1)
	tb.runCleanups()
	log.Info("after the test")
	if len(tb.logged) != 1 || !strings.Contains(tb.logged[0], "msg=shown k=1") {
		t.Fatalf("logged %q", tb.logged)
	}
}

func TestBuffer(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				b.Write([]byte("ab"))
				_ = b.String()
			}
		}()
	}
	wg.Wait()
	if got := b.String(); got != strings.Repeat("ab", 400) {
		t.Fatalf("%d bytes", len(got))
	}
}
