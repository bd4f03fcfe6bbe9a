package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/hashicorp/raft"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/roamhq/roam/node/gate"
	"github.com/roamhq/roam/node/mux"
)

// Partition status: what a node knows of a partition. Leaders ask it to
// see whether a new replica has caught up before promoting it (or handing
// it the leadership), and a node that holds a partition it was not
// assigned asks the leader whether it is still a member before deleting
// its copy.
//
// It is a gate request kind (kindStatus, kind_status.go), on the gate's
// persistent connection like every other node-to-node request. The admin
// stream it replaces (mux kind 'A', argument = partition id: one question
// per connection; request nothing, reply one msgpack partStatus, then the
// server closes) is still served for nodes from before the gate carried
// it, and asked when a peer does not serve kindStatus (such a node, or a
// new gate connection whose welcome has not come yet).

// partStatus is a node's view of one partition.
type partStatus struct {
	Open      bool     `msgpack:"open"`
	Leader    bool     `msgpack:"leader"`
	LastIndex uint64   `msgpack:"last_index"`
	Servers   []string `msgpack:"servers"` // ids in the latest configuration
}

// adminTimeout bounds one admin exchange.
const adminTimeout = 2 * time.Second

func (n *Node) serveAdmin(c net.Conn, pid uint16) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(adminTimeout))
	b, err := msgpack.Marshal(n.partStatus(pid))
	if err != nil {
		return
	}
	c.Write(b)
}

func (n *Node) partStatus(pid uint16) partStatus {
	p, ok := n.host.Partition(pid)
	if !ok {
		return partStatus{}
	}
	r := p.Raft()
	st := partStatus{Open: true, Leader: r.State() == raft.Leader, LastIndex: r.LastIndex()}
	if f := r.GetConfiguration(); f.Error() == nil {
		for _, s := range f.Configuration().Servers {
			st.Servers = append(st.Servers, string(s.ID))
		}
	}
	return st
}

// askStatus asks the node at addr about partition pid: through the gate
// (kindStatus), or over the admin stream if the node does not serve that
// kind.
func (n *Node) askStatus(ctx context.Context, addr string, pid uint16) (partStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	var st partStatus
	err := n.gate.Call(ctx, addr, kindStatus, &statusReq{PID: pid}, &st)
	switch {
	case err == nil:
		return st, nil
	case !errors.Is(err, gate.ErrUnsupported):
		return partStatus{}, fmt.Errorf("node: status of partition %d from %s: %w", pid, addr, err)
	}
	return n.askStatusStream(ctx, addr, pid)
}

// askStatusStream asks over the admin stream (mux kind 'A').
func (n *Node) askStatusStream(ctx context.Context, addr string, pid uint16) (partStatus, error) {
	c, err := n.mux.Dial(ctx, addr, mux.KindAdmin, pid)
	if err != nil {
		return partStatus{}, err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	st, err := decodeStatus(c, adminReplyLimit)
	if err != nil {
		return partStatus{}, fmt.Errorf("node: status of partition %d from %s: %w", pid, addr, err)
	}
	return st, nil
}

// adminReplyLimit caps what a peer's status reply may make us read.
const adminReplyLimit = 64 << 10

// Errors of decodeStatus besides the reader's own (io.EOF before the
// reply, io.ErrUnexpectedEOF inside it, a timeout).
var (
	errAdminTooLarge = errors.New("node: admin reply too large")
	errAdminBadReply = errors.New("node: admin reply is not a partition status")
)

// decodeStatus reads one partStatus from r, reading at most limit bytes
// (a peer's reply is input like any other). The reply needs no length
// prefix: it is one msgpack value, so the decoder stops at its end.
func decodeStatus(r io.Reader, limit int) (partStatus, error) {
	var st partStatus
	lr := &limitedReader{r: r, left: limit}
	if err := msgpack.NewDecoder(lr).Decode(&st); err != nil {
		switch {
		case lr.over:
			return partStatus{}, errAdminTooLarge
		case lr.err != nil:
			if lr.err == io.EOF && lr.read > 0 {
				return partStatus{}, io.ErrUnexpectedEOF
			}
			return partStatus{}, lr.err
		}
		return partStatus{}, fmt.Errorf("%w: %v", errAdminBadReply, err)
	}
	return st, nil
}

// limitedReader reads at most left bytes from r and remembers why it
// stopped, so that decodeStatus reports the reader's error (or the limit)
// rather than the decoder's rendering of it.
type limitedReader struct {
	r    io.Reader
	left int
	read int
	over bool  // the limit was reached and more was asked for
	err  error // the first error from r
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		l.over = true
		return 0, errAdminTooLarge
	}
	if len(p) > l.left {
		p = p[:l.left]
	}
	k, err := l.r.Read(p)
	l.left -= k
	l.read += k
	if err != nil && l.err == nil {
		l.err = err
	}
	return k, err
}
