package node

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/raft"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/roamhq/roam/node/mux"
)

// The admin stream (mux kind 'A', argument = partition id) answers one
// question per connection: what this node knows of a partition. Leaders use
// it to see whether a new replica has caught up before promoting it, and a
// node that holds a partition it was not assigned asks the leader whether
// it is still a member before deleting its copy.
//
// Request: nothing (the header says which partition). Reply: one msgpack
// partStatus, after which the server closes the connection.

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

// askStatus asks the node at addr about partition pid.
func (n *Node) askStatus(ctx context.Context, addr string, pid uint16) (partStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	c, err := n.mux.Dial(ctx, addr, mux.KindAdmin, pid)
	if err != nil {
		return partStatus{}, err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	var st partStatus
	dec := msgpack.NewDecoder(&limitedReader{c: c, left: 64 << 10})
	if err := dec.Decode(&st); err != nil {
		return partStatus{}, fmt.Errorf("node: status of partition %d from %s: %w", pid, addr, err)
	}
	return st, nil
}

// limitedReader caps what a peer's reply may make us read.
type limitedReader struct {
	c    net.Conn
	left int
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, fmt.Errorf("node: admin reply too large")
	}
	if len(p) > l.left {
		p = p[:l.left]
	}
	k, err := l.c.Read(p)
	l.left -= k
	return k, err
}
