package client

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/roamhq/roam/wire"
)

// Version is sent in Hello as "roam-go/<Version>".
const Version = "0.1"

// MinMaxFrame is the smallest Config.MaxFrame: servers refuse a Hello
// announcing less (PROTOCOL.md §4), as one message must fit in a frame.
const MinMaxFrame = 4096

// maxMaxFrame is the largest Config.MaxFrame (a 1 GiB frame).
const maxMaxFrame = 1 << 30

// ALPN is the application protocol a client offers in its TLS handshake.
const ALPN = "roam/1"

// ErrPlaintext is returned when a client without TLS would dial an
// address that is not loopback and Config.AllowPlaintext is not set.
var ErrPlaintext = errors.New("client: refusing plaintext to a non-loopback address; set Config.TLS (or Config.AllowPlaintext)")

// Config configures a Client. Start from DefaultConfig.
type Config struct {
	// Addrs are the client addresses ("host:port") of roam nodes. Dial
	// tries them in order; after a connection loss the client also tries
	// the nodes the server announced in its Welcome.
	Addrs []string
	// Device is this device's stable id (1-64 printable ASCII characters,
	// no spaces). A device has at most one session at a time: logging in
	// with the same device elsewhere ends the older session. Empty means
	// a random id (see NewDeviceID), which suits a throwaway client only.
	Device string
	// ClientName is sent in Hello; empty means "roam-go/<Version>".
	ClientName string

	// DialTimeout bounds the TCP (and TLS) connect and the Hello/Welcome
	// exchange with one address.
	DialTimeout time.Duration
	// RequestTimeout bounds one request when the caller's context has no
	// earlier deadline (for Send: each attempt).
	RequestTimeout time.Duration
	// MaxSendAttempts is how many times Send tries before it gives up
	// with ErrBusy.
	MaxSendAttempts int
	// RetryBackoff is the first pause between send attempts and between
	// reconnects; it doubles up to MaxBackoff, with jitter (each pause is
	// drawn from [d/2, d]). Reconnects back off whenever connections keep
	// failing, whatever the reason (dial errors, refused resumes,
	// connections dropped right after login, frames too large...); the
	// backoff starts again only after a connection stayed up HealthyAfter.
	RetryBackoff time.Duration
	MaxBackoff   time.Duration
	// HealthyAfter is how long a connection must stay up for the next
	// reconnect to be immediate again.
	HealthyAfter time.Duration
	// ProbeAfter and ProbeTimeout drive the liveness probe that moves a
	// session off a node that stopped answering (frozen, cut off) long
	// before RequestTimeout: when a request has been waiting ProbeAfter and
	// nothing at all has arrived for as long, the client sends a ping; if
	// nothing arrives within ProbeTimeout more, the connection is closed,
	// its node avoided, and the session resumed on another node, where the
	// request is retried (sends keep their cmid). A live server holding a
	// request pushes a pong every 400 ms meanwhile (PROTOCOL §6), so the
	// probe needs no allowance for it. An idle client sends only its
	// heartbeats, and leaves the node the same way when nothing answers
	// one within ProbeTimeout + 5 s.
	ProbeAfter   time.Duration
	ProbeTimeout time.Duration
	// AckInterval and AckBatch control acknowledgements: the cursor is
	// sent at most AckInterval after a message was handed to the
	// application, or at once when AckBatch messages are waiting.
	AckInterval time.Duration
	AckBatch    int
	// MaxFrame is the largest frame the client accepts from the server
	// (at least MinMaxFrame). It is announced in Hello, and the server
	// bounds its frames by it: sync pages are cut by size to fit. A larger
	// frame (from a server that does not honour it) is skipped and fails
	// its request with ErrFrameTooLarge.
	MaxFrame int

	// SkipInbox turns the inbox and the groups off: the client never
	// syncs, so it receives no messages, 1:1 or group (and the server
	// pushes none). For send-only tools. Presence and friend events still
	// arrive.
	SkipInbox bool
	// SkipGroups turns only the groups off: the client syncs the inbox
	// but reads no group streams.
	SkipGroups bool
	// NoReconnect turns automatic reconnection off: a lost connection
	// ends the session (EventDisconnected, then EventSessionEnded).
	NoReconnect bool

	// TLS, if set, makes the client speak TLS over TCP. Unset fields get
	// the protocol's values on each dial: ServerName the host of the
	// address dialled, NextProtos ["roam/1"], MinVersion TLS 1.3.
	TLS *tls.Config
	// AllowPlaintext lets a client without TLS dial addresses that are
	// not loopback. Without it such a dial fails with ErrPlaintext:
	// session tokens and messages would cross the network in clear.
	// Loopback addresses ("127.0.0.1", "::1", "localhost") are always
	// allowed.
	AllowPlaintext bool
	// Logger receives debug and warning logs; nil discards them.
	Logger *slog.Logger

	// now is the wall clock (tests; nil means time.Now).
	now func() time.Time
}

// DefaultConfig returns a Config with production defaults and the given
// addresses.
func DefaultConfig(addrs ...string) Config {
	return Config{
		Addrs:           addrs,
		DialTimeout:     5 * time.Second,
		RequestTimeout:  10 * time.Second,
		MaxSendAttempts: 5,
		RetryBackoff:    100 * time.Millisecond,
		MaxBackoff:      10 * time.Second,
		HealthyAfter:    10 * time.Second,
		ProbeAfter:      500 * time.Millisecond,
		ProbeTimeout:    750 * time.Millisecond,
		AckInterval:     100 * time.Millisecond,
		AckBatch:        64,
		MaxFrame:        wire.DefaultMaxFrame,
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if len(c.Addrs) == 0 {
		return fmt.Errorf("client: Config.Addrs is empty: %w", ErrNoAddress)
	}
	for _, a := range c.Addrs {
		if a == "" {
			return errors.New("client: empty address in Config.Addrs")
		}
	}
	if c.Device != "" && !validDevice(c.Device) {
		return fmt.Errorf("client: device %q must be 1-64 printable ASCII characters without spaces", c.Device)
	}
	switch {
	case c.DialTimeout <= 0, c.RequestTimeout <= 0:
		return errors.New("client: DialTimeout and RequestTimeout must be positive")
	case c.MaxSendAttempts < 1:
		return errors.New("client: MaxSendAttempts must be at least 1")
	case c.RetryBackoff <= 0 || c.MaxBackoff < c.RetryBackoff:
		return errors.New("client: RetryBackoff must be positive and at most MaxBackoff")
	case c.AckInterval <= 0 || c.AckBatch < 1:
		return errors.New("client: AckInterval must be positive and AckBatch at least 1")
	case c.HealthyAfter <= 0 || c.ProbeAfter <= 0 || c.ProbeTimeout <= 0:
		return errors.New("client: HealthyAfter, ProbeAfter and ProbeTimeout must be positive")
	case c.MaxFrame < MinMaxFrame || c.MaxFrame > maxMaxFrame:
		return fmt.Errorf("client: MaxFrame must be between %d and %d", MinMaxFrame, maxMaxFrame)
	}
	return nil
}

func validDevice(d string) bool {
	if d == "" || len(d) > 64 {
		return false
	}
	for i := 0; i < len(d); i++ {
		if d[i] <= ' ' || d[i] > '~' {
			return false
		}
	}
	return true
}

// NewDeviceID returns a random device id ("dev-" and 16 hex digits). Save
// it and reuse it: the device id is what the server keys sessions,
// cursors and send deduplication on.
func NewDeviceID() string {
	var b [8]byte
	rand.Read(b[:])
	return "dev-" + hex.EncodeToString(b[:])
}
