package gate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/roamhq/roam/node/mux"
)

// Config configures a Gate. Start from DefaultConfig and set NodeID and Mux.
type Config struct {
	// NodeID is this node's id. It is sent in the hello frame of every
	// connection this gate opens and becomes the from of the presence
	// updates the other side receives.
	NodeID string
	// Mux is the node's internal-port multiplexer. Start registers the
	// gate on it for kind mux.KindGate.
	Mux *mux.Mux
	// Logger receives the gate's logs (with component=gate). Nil discards.
	Logger *slog.Logger

	// DialTimeout bounds one connection attempt, header included.
	DialTimeout time.Duration
	// RequestTimeout bounds a request whose context has no deadline, on
	// the calling side, and caps the time the serving side gives a request.
	RequestTimeout time.Duration
	// WriteTimeout bounds one batched write. A peer that does not read for
	// this long has its connection closed (and is redialled).
	WriteTimeout time.Duration

	// BatchDelay spaces the writes that carry one-way items to a peer. An item queued when the
	// connection has written nothing for BatchDelay goes out at once;
	// otherwise it waits until BatchDelay after the previous write. So no
	// item waits longer than BatchDelay, a quiet peer adds no delay, and a
	// busy one gets at most one write per BatchDelay. Zero writes whenever
	// the writer is free (items still coalesce while a write is in
	// progress). Requests and replies never wait, and take any queued
	// items with them.
	BatchDelay time.Duration
	// MaxBatchBytes ends a BatchDelay wait early: once this many bytes
	// are queued for a peer they are written at once.
	MaxBatchBytes int
	// MaxQueueBytes bounds the bytes queued for one peer and not yet
	// written. A one-way item that does not fit is dropped and counted; a
	// request waits for room (within its context).
	MaxQueueBytes int
	// MaxFrameBytes caps one frame (type, request id and body), checked
	// before anything is allocated for it. Both sides must agree.
	MaxFrameBytes int
	// MaxConcurrent bounds the requests from other nodes served at once
	// (each runs in its own goroutine). A connection whose requests find
	// no free slot stops being read until one frees.
	MaxConcurrent int

	// RedialMin and RedialMax bound the backoff between failed dials of a
	// peer. While a peer is backing off, requests to it fail at once with
	// ErrUnreachable.
	RedialMin, RedialMax time.Duration

	// Dial opens a connection to the gate of the node at addr. Optional:
	// the default dials with mux.Dial, kind mux.KindGate. Tests use it to
	// inject faults.
	Dial func(ctx context.Context, addr string) (net.Conn, error)

	// Resync, if set, is called (from the peer's goroutine, without locks
	// held; it must not block) after one-way items for addr may have been
	// lost — dropped because the queue was full or the peer unreachable,
	// or written on a connection that then broke — once the connection is
	// up again and the queue has room. The node answers with a full
	// presence snapshot (Presence with full=true); deliveries need nothing
	// here: the node's acknowledgements and notices repair them.
	Resync func(addr string)

	// DropOneWay, if set, is a fault hook for tests and the simulator:
	// the receiving side asks it about every one-way item (after decoding
	// it, before handing it to the Handler) with the name its kind's
	// Handler was registered with — the node's are "deliver", "cancel",
	// "notify", "presence", "notice" and "ack" — and
	// discards the item when it returns true, as if it had been lost on
	// the way while the connection stayed up. Discarded items are counted
	// in Stats.Discarded. It is called from connection readers, possibly
	// concurrently, and must not block.
	DropOneWay func(kind string) bool
}

// DefaultConfig returns production defaults. NodeID and Mux must still be
// set.
func DefaultConfig() Config {
	return Config{
		DialTimeout:    2 * time.Second,
		RequestTimeout: 10 * time.Second,
		WriteTimeout:   5 * time.Second,
		BatchDelay:     500 * time.Microsecond,
		MaxBatchBytes:  256 << 10,
		MaxQueueBytes:  8 << 20,
		MaxFrameBytes:  4 << 20,
		MaxConcurrent:  256,
		RedialMin:      10 * time.Millisecond,
		RedialMax:      time.Second,
	}
}

// minFrameCap is the smallest MaxFrameBytes accepted: a frame must be able
// to carry a hello and a small reply.
const minFrameCap = 4 << 10

// Validate reports the first problem with the configuration.
func (c *Config) Validate() error {
	switch {
	case c.NodeID == "":
		return errors.New("gate: NodeID is required")
	case c.Mux == nil:
		return errors.New("gate: Mux is required")
	case c.DialTimeout <= 0 || c.RequestTimeout <= 0 || c.WriteTimeout <= 0:
		return errors.New("gate: DialTimeout, RequestTimeout and WriteTimeout must be positive")
	case c.BatchDelay < 0:
		return errors.New("gate: BatchDelay must not be negative")
	case c.MaxFrameBytes < minFrameCap || c.MaxFrameBytes > maxFrameLimit:
		return fmt.Errorf("gate: MaxFrameBytes must be %d..%d, got %d", minFrameCap, maxFrameLimit, c.MaxFrameBytes)
	case c.MaxBatchBytes <= 0:
		return errors.New("gate: MaxBatchBytes must be positive")
	case c.MaxQueueBytes < c.MaxFrameBytes:
		return fmt.Errorf("gate: MaxQueueBytes (%d) must be at least MaxFrameBytes (%d)", c.MaxQueueBytes, c.MaxFrameBytes)
	case c.MaxConcurrent < 1:
		return errors.New("gate: MaxConcurrent must be at least 1")
	case c.RedialMin <= 0 || c.RedialMax < c.RedialMin:
		return errors.New("gate: RedialMin must be positive and RedialMax at least RedialMin")
	}
	return nil
}
