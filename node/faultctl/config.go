package faultctl

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"
)

// Config configures a Server.
type Config struct {
	// Addr is the loopback host:port to listen on ("127.0.0.1:0" picks a
	// port). A host that is not a loopback IP address is refused.
	Addr string
	// MaxFor caps the duration of one fault (for=).
	MaxFor time.Duration
	// MinEvery is the shortest spacing of repeated resets (every=).
	MinEvery time.Duration
	// Logger receives the WARN lines (component=faultctl). Nil discards.
	Logger *slog.Logger
}

// DefaultConfig returns the defaults; Addr must still be set.
func DefaultConfig() Config {
	return Config{MaxFor: time.Hour, MinEvery: 10 * time.Millisecond}
}

// Validate reports the first problem with the configuration.
func (c *Config) Validate() error {
	if err := CheckLoopback(c.Addr); err != nil {
		return err
	}
	switch {
	case c.MaxFor <= 0:
		return errors.New("faultctl: MaxFor must be positive")
	case c.MinEvery <= 0:
		return errors.New("faultctl: MinEvery must be positive")
	}
	return nil
}

// CheckLoopback accepts a host:port whose host is a loopback IP address.
func CheckLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("faultctl: address %q: %w", addr, err)
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("faultctl: address %q: the fault-control endpoint listens on a loopback IP address only (127.0.0.1 or ::1)", addr)
	}
	return nil
}
