package gossip

import (
	"context"
	"log"
	"log/slog"
	"strings"
)

// newStdLogger returns the *log.Logger memberlist wants. Each line it
// prints ("[WARN] memberlist: text") becomes one slog record at Debug with
// the original level as the "ml_level" attribute. memberlist is chatty
// (every probe failure, every rejected packet); the events that matter to an
// operator are logged by this package itself at Info or Warn.
func newStdLogger(l *slog.Logger) *log.Logger {
	return log.New(slogWriter{l}, "", 0)
}

type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	if !w.l.Enabled(context.Background(), slog.LevelDebug) {
		return len(p), nil
	}
	s := strings.TrimRight(string(p), "\n")
	level := ""
	if strings.HasPrefix(s, "[") {
		if i := strings.IndexByte(s, ']'); i > 0 {
			level, s = s[1:i], strings.TrimSpace(s[i+1:])
		}
	}
	s = strings.TrimPrefix(s, "memberlist: ")
	w.l.Debug(s, "ml_level", level)
	return len(p), nil
}
