package raftnet

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/hashicorp/raft"
)

// Snapshots do not share the RPC stream: a snapshot of many megabytes
// would hold up every partition's heartbeats behind it. Each goes on a
// connection of its own (stream StreamSnapshot), as with raft's
// NetworkTransport: one request frame, the snapshot's Size bytes, one
// answer frame, close. The deadline grows with the size.

// snapshotTimeout scales Config.Timeout by the snapshot's size, as
// raft's NetworkTransport does (one Timeout per 256 KiB).
func (n *Net) snapshotTimeout(size int64) time.Duration {
	return n.cfg.Timeout * time.Duration(max(1, size/raft.DefaultTimeoutScale))
}

// InstallSnapshot streams a snapshot to target on a connection of its
// own.
func (t *Transport) InstallSnapshot(_ raft.ServerID, target raft.ServerAddress, args *raft.InstallSnapshotRequest, resp *raft.InstallSnapshotResponse, data io.Reader) error {
	if t.ctx.Err() != nil {
		return ErrClosed
	}
	req, err := appendMsgpack(nil, args)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(t.ctx, max(t.n.cfg.HeartbeatTimeout, 2*time.Second))
	c, err := t.n.cfg.Dial(ctx, string(target), StreamSnapshot)
	cancel()
	if err != nil {
		return fmt.Errorf("raftnet: dial %s for a snapshot: %w", target, err)
	}
	t.n.stats.snapshots.Add(1)
	defer c.Close()
	stop := context.AfterFunc(t.ctx, func() { c.Close() })
	defer stop()
	c.SetDeadline(time.Now().Add(t.n.snapshotTimeout(args.Size)))

	w := bufio.NewWriterSize(c, 256<<10)
	frame, at := beginFrame(nil, tSnapshot, t.pid, 0)
	frame = endFrame(append(frame, req...), at)
	if _, err := w.Write(frame); err != nil {
		return err
	}
	if _, err := io.Copy(w, data); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	h, body, err := readFrame(c, make([]byte, hdrLen), t.n.cfg.MaxFrame)
	if err != nil {
		return fmt.Errorf("raftnet: snapshot answer from %s: %w", target, err)
	}
	if h.typ != tSnapshot|respBit || h.pid != t.pid {
		return fmt.Errorf("raftnet: snapshot answered with type %d of partition %d", h.typ, h.pid)
	}
	remote, rest, err := splitResp(body)
	if err != nil {
		return err
	}
	var r raft.InstallSnapshotResponse
	if err := decodeMsgpack(rest, &r); err != nil {
		return err
	}
	*resp = r
	return remote
}

// serveSnapshot receives one snapshot and hands it to its partition.
func (n *Net) serveSnapshot(c net.Conn) {
	id, verified := n.identify(c)
	if !verified && !n.cfg.Insecure {
		return
	}
	c.SetDeadline(time.Now().Add(n.cfg.Timeout))
	rd := bufio.NewReaderSize(c, 256<<10)
	h, body, err := readFrame(rd, make([]byte, hdrLen), n.cfg.MaxFrame)
	if err != nil || h.typ != tSnapshot {
		return
	}
	req := new(raft.InstallSnapshotRequest)
	if err := decodeMsgpack(body, req); err != nil || req.Size < 0 {
		n.log.Warn("dropped snapshot stream: bad request", "peer", id, "err", err)
		return
	}
	answer := func(r raft.RPCResponse) {
		var b []byte
		if r.Response != nil {
			b, _ = appendMsgpack(nil, r.Response)
		}
		frame, at := beginFrame(nil, tSnapshot|respBit, h.pid, 0)
		frame = appendRespErr(frame, r.Error)
		c.Write(endFrame(append(frame, b...), at))
	}
	if err := n.checkID(id, verified, req.ID); err != nil {
		answer(raft.RPCResponse{Error: err})
		return
	}
	t := n.transport(h.pid)
	if t == nil {
		answer(raft.RPCResponse{Error: fmt.Errorf("raftnet: partition %d not open here", h.pid)})
		return
	}
	c.SetDeadline(time.Now().Add(n.snapshotTimeout(req.Size)))
	ch := make(chan raft.RPCResponse, 1)
	rpc := raft.RPC{Command: req, Reader: io.LimitReader(rd, req.Size), RespChan: ch}
	select {
	case t.consumeCh <- rpc:
	case <-t.ctx.Done():
		answer(raft.RPCResponse{Error: ErrClosed})
		return
	}
	select {
	case r := <-ch:
		answer(r)
	case <-t.ctx.Done():
		answer(raft.RPCResponse{Error: ErrClosed})
	}
}
