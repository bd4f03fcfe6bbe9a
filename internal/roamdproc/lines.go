package roamdproc

import (
	"bytes"
	"log/slog"
	"sync"
	"time"
)

// LineWriter is an io.Writer that cuts what is written into lines and
// passes each to Out, without its newline, with Prefix in front (and,
// if TimeLayout is set, the time it came, in that layout, before that).
// A line split over several writes is passed on whole; one left without
// a newline waits for Flush. It is safe for concurrent use; Out is called
// with the writer's lock held, so lines reach it in order. After Stop it
// drops whatever comes.
type LineWriter struct {
	Prefix     string
	TimeLayout string
	Out        func(line string)

	mu      sync.Mutex
	partial []byte
	stopped bool
}

// Write passes on every complete line of p; it never fails.
func (w *LineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return len(p), nil
	}
	rest := p
	for {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			break
		}
		line := rest[:i]
		if len(w.partial) > 0 {
			line = append(w.partial, line...)
			w.partial = w.partial[:0]
		}
		w.emit(line)
		rest = rest[i+1:]
	}
	w.partial = append(w.partial, rest...)
	return len(p), nil
}

// Flush passes on a last line that has no newline yet.
func (w *LineWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.partial) > 0 && !w.stopped {
		w.emit(w.partial)
	}
	w.partial = w.partial[:0]
}

// Stop flushes, then drops everything written later (a test's t.Log
// must not be called once the test has ended).
func (w *LineWriter) Stop() {
	w.Flush()
	w.mu.Lock()
	w.stopped = true
	w.mu.Unlock()
}

func (w *LineWriter) emit(line []byte) {
	if w.Out == nil {
		return
	}
	s := w.Prefix + string(bytes.TrimSuffix(line, []byte{'\r'}))
	if w.TimeLayout != "" {
		s = time.Now().Format(w.TimeLayout) + " " + s
	}
	w.Out(s)
}

// TB is the part of testing.TB that TestLog uses.
type TB interface {
	Log(args ...any)
	Helper()
	Cleanup(func())
}

// TestLog returns a LineWriter that sends each line, after prefix, to
// tb.Log, until tb's cleanups run: the cleanup that stops it is
// registered now, so it runs after the ones registered later (those that
// shut down what logs), and a goroutine that logs after the test is
// silenced rather than panicking the test binary.
func TestLog(tb TB, prefix string) *LineWriter {
	w := &LineWriter{Prefix: prefix, Out: func(line string) {
		tb.Helper()
		tb.Log(line)
	}}
	tb.Cleanup(w.Stop)
	return w
}

// TestLogger is a text logger at level that writes to TestLog(tb, "").
func TestLogger(tb TB, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(TestLog(tb, ""), &slog.HandlerOptions{Level: level}))
}
