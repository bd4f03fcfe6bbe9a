package node

import (
	"context"
	"io"
	"log/slog"

	"github.com/hashicorp/go-hclog"
)

// newHclog returns an hclog.Logger, as raft's NetworkTransport wants, that
// forwards to l. hclog's Info (connection chatter) becomes slog Debug.
func newHclog(l *slog.Logger) hclog.Logger {
	lvl := hclog.Warn
	if l.Enabled(context.Background(), slog.LevelDebug) {
		lvl = hclog.Debug
	}
	il := hclog.NewInterceptLogger(&hclog.LoggerOptions{Output: io.Discard, Level: lvl})
	il.RegisterSink(hclogSink{l})
	return il
}

type hclogSink struct{ l *slog.Logger }

func (s hclogSink) Accept(name string, level hclog.Level, msg string, args ...interface{}) {
	sl := slog.LevelDebug
	switch {
	case level >= hclog.Error:
		sl = slog.LevelError
	case level == hclog.Warn:
		sl = slog.LevelWarn
	}
	if s.l.Enabled(context.Background(), sl) {
		s.l.Log(context.Background(), sl, msg, args...)
	}
}
