package hlr

import (
	"context"
	"io"
	"log"
	"log/slog"

	"github.com/hashicorp/go-hclog"
)

// hclogAdapter lets hashicorp/raft log through the node's slog.Logger.
// Raft is chatty at Info (every election of every partition), so its Info
// is mapped to slog Debug unless it is about a failure.
type hclogAdapter struct {
	l    *slog.Logger
	name string
	args []interface{}
}

func newHclog(l *slog.Logger) hclog.Logger { return &hclogAdapter{l: l} }

func (h *hclogAdapter) level(lv hclog.Level) slog.Level {
	switch lv {
	case hclog.Trace, hclog.Debug, hclog.Info:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	}
	return slog.LevelInfo
}

func (h *hclogAdapter) Log(lv hclog.Level, msg string, args ...interface{}) {
	sl := h.level(lv)
	if !h.l.Enabled(context.Background(), sl) {
		return
	}
	all := append(append([]interface{}{}, h.args...), args...)
	if h.name != "" {
		all = append(all, "raft", h.name)
	}
	h.l.Log(context.Background(), sl, msg, all...)
}

func (h *hclogAdapter) Trace(msg string, args ...interface{}) { h.Log(hclog.Trace, msg, args...) }
func (h *hclogAdapter) Debug(msg string, args ...interface{}) { h.Log(hclog.Debug, msg, args...) }
func (h *hclogAdapter) Info(msg string, args ...interface{})  { h.Log(hclog.Info, msg, args...) }
func (h *hclogAdapter) Warn(msg string, args ...interface{})  { h.Log(hclog.Warn, msg, args...) }
func (h *hclogAdapter) Error(msg string, args ...interface{}) { h.Log(hclog.Error, msg, args...) }

func (h *hclogAdapter) enabled(lv hclog.Level) bool {
	return h.l.Enabled(context.Background(), h.level(lv))
}

func (h *hclogAdapter) IsTrace() bool              { return false }
func (h *hclogAdapter) IsDebug() bool              { return h.enabled(hclog.Debug) }
func (h *hclogAdapter) IsInfo() bool               { return h.enabled(hclog.Info) }
func (h *hclogAdapter) IsWarn() bool               { return h.enabled(hclog.Warn) }
func (h *hclogAdapter) IsError() bool              { return h.enabled(hclog.Error) }
func (h *hclogAdapter) ImpliedArgs() []interface{} { return h.args }

func (h *hclogAdapter) With(args ...interface{}) hclog.Logger {
	c := *h
	c.args = append(append([]interface{}{}, h.args...), args...)
	return &c
}

func (h *hclogAdapter) Name() string { return h.name }

func (h *hclogAdapter) Named(name string) hclog.Logger {
	c := *h
	if c.name != "" {
		name = c.name + "." + name
	}
	c.name = name
	return &c
}

func (h *hclogAdapter) ResetNamed(name string) hclog.Logger {
	c := *h
	c.name = name
	return &c
}

func (h *hclogAdapter) SetLevel(hclog.Level) {}

func (h *hclogAdapter) GetLevel() hclog.Level {
	switch {
	case h.IsDebug():
		return hclog.Debug
	case h.IsWarn():
		return hclog.Warn
	}
	return hclog.Error
}

func (h *hclogAdapter) StandardLogger(*hclog.StandardLoggerOptions) *log.Logger {
	return slog.NewLogLogger(h.l.Handler(), slog.LevelDebug)
}

func (h *hclogAdapter) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return h.StandardLogger(nil).Writer()
}
