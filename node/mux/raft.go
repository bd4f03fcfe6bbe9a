package mux

import (
	"context"
	"net"
	"time"

	"github.com/hashicorp/raft"
)

var _ raft.StreamLayer = (*RaftLayer)(nil)

// RaftLayer is the raft.StreamLayer of one partition. It keeps track of
// every connection it accepted or dialed, and closes them all on Close,
// because raft's NetworkTransport does not close them itself and their
// handler goroutines would otherwise outlive it.
type RaftLayer struct {
	m      *Mux
	pid    uint16
	ch     chan net.Conn
	ctx    context.Context // cancelled by Close, or by the mux's Close
	cancel context.CancelFunc
	conns  tracker
}

func newRaftLayer(m *Mux, pid uint16) *RaftLayer {
	l := &RaftLayer{m: m, pid: pid, ch: make(chan net.Conn)}
	l.ctx, l.cancel = context.WithCancel(m.ctx)
	return l
}

// Partition returns the partition id of the layer.
func (l *RaftLayer) Partition() uint16 { return l.pid }

// deliver hands an incoming connection to Accept, or closes it if the
// layer closes first.
func (l *RaftLayer) deliver(c net.Conn) {
	tc := l.conns.add(c)
	if tc == nil {
		c.Close()
		return
	}
	select {
	case l.ch <- tc:
	case <-l.ctx.Done():
		tc.Close()
	}
}

// Accept waits for the next connection to this partition.
func (l *RaftLayer) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.ctx.Done():
		return nil, ErrClosed
	}
}

// Close releases the partition, closes its connections and unblocks
// Accept. It is safe to call more than once.
func (l *RaftLayer) Close() error {
	l.cancel()
	l.conns.close()
	l.m.release(l)
	return nil
}

// Addr returns the mux's listening address.
func (l *RaftLayer) Addr() net.Addr { return l.m.Addr() }

// Dial connects to the same partition on the node at address.
func (l *RaftLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(l.ctx, timeout)
	defer cancel()
	c, err := l.m.Dial(ctx, string(address), KindRaft, l.pid)
	if err != nil {
		if l.ctx.Err() != nil {
			return nil, ErrClosed
		}
		return nil, err
	}
	tc := l.conns.add(c)
	if tc == nil {
		c.Close()
		return nil, ErrClosed
	}
	return tc, nil
}
