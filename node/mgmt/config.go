package mgmt

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"
)

// Config configures a Server.
type Config struct {
	// Addr is the host:port to listen on ("127.0.0.1:0" picks a port).
	// The read-only endpoints have no credentials, and the admin token
	// crosses in clear: bind it to loopback or a management network only.
	Addr string
	// Pprof also serves the Go profiler (net/http/pprof) under
	// /debug/pprof/. Profiles reveal memory contents' shapes and cost
	// CPU while they run: turn it on where only operators can reach Addr.
	Pprof bool
	// ReadHeaderTimeout and WriteTimeout bound one request. WriteTimeout
	// must leave room for a CPU profile (/debug/pprof/profile?seconds=N
	// asks for N seconds), so with Pprof it is raised to at least 2 minutes.
	ReadHeaderTimeout time.Duration
	WriteTimeout      time.Duration
	// AdminToken, if set, enables POST /admin/drain and /admin/undrain
	// for requests that carry it ("Authorization: Bearer TOKEN"). Empty:
	// those endpoints answer 404 and the endpoint changes nothing.
	AdminToken string
	// Logger receives the server's few log lines (component=mgmt). Nil
	// discards them.
	Logger *slog.Logger
}

// DefaultConfig returns the defaults; Addr must still be set.
func DefaultConfig() Config {
	return Config{ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 30 * time.Second}
}

// Validate reports the first problem with the configuration.
func (c *Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("mgmt: address %q: %w", c.Addr, err)
	}
	if c.ReadHeaderTimeout <= 0 || c.WriteTimeout <= 0 {
		return errors.New("mgmt: ReadHeaderTimeout and WriteTimeout must be positive")
	}
	return nil
}

// IsLoopback reports whether addr's host is a loopback IP address or
// "localhost" (roamd warns when the endpoint is bound elsewhere).
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
