package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/roamhq/roam/hlr"
	"github.com/roamhq/roam/node/backup"
)

// Backup and restore streams (package node/backup has the protocol and
// the client). Any peer with a certificate of the cluster's CA may open
// them: the same trust as a node's, since a node could read every
// partition it holds anyway.

// backupTimeout bounds one backup or restore stream.
const backupTimeout = 30 * time.Minute

// backupReply is the start of every answer: who the cluster is and where
// its nodes are.
func (n *Node) backupReply() backup.Reply {
	rep := backup.Reply{Partitions: n.meta.Partitions, Cluster: n.meta.ClusterID}
	for _, m := range n.aliveMembers() {
		rep.Members = append(rep.Members, m.Meta.InternalAddr)
	}
	return rep
}

// backupPartition finds pid's partition here when this node leads it, or
// says why not.
func (n *Node) backupPartition(pid uint16, rep *backup.Reply) *hlr.Partition {
	p, ok := n.host.Partition(pid)
	switch {
	case int(pid) >= n.meta.Partitions || !ok:
		rep.Err = backup.ErrNotHere
	case !p.IsLeader():
		rep.Err = backup.ErrNoLeader
		if id, _ := p.Leader(); id != "" {
			rep.Err, rep.Leader = backup.ErrNotLeader, n.internalAddrOf(id)
		}
	default:
		return p
	}
	return nil
}

func (n *Node) serveBackup(c net.Conn, pid uint16) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(backupTimeout))
	rep := n.backupReply()
	p := n.backupPartition(pid, &rep)
	if p == nil {
		backup.Write(c, rep)
		return
	}
	ctx, cancel := context.WithTimeout(n.ctx, backupTimeout)
	defer cancel()
	meta, rc, err := p.Backup(ctx)
	if err != nil {
		rep.Err = backup.ErrFailed + ": " + err.Error()
		if errors.Is(err, hlr.ErrNotLeader) {
			rep.Err = backup.ErrNoLeader
		}
		backup.Write(c, rep)
		return
	}
	defer rc.Close()
	rep.Meta = meta
	if err := backup.Write(c, rep); err != nil {
		return
	}
	if _, err := io.Copy(c, rc); err != nil {
		n.log.Warn("backup stream broke", "partition", pid, "peer", c.RemoteAddr().String(), "err", err)
		return
	}
	n.log.Info("partition backed up", "partition", pid, "index", meta.Index, "bytes", meta.Size, "peer", c.RemoteAddr().String())
}

// maxHold bounds one hold request; the tool renews it.
const maxHold = 10 * time.Minute

func (n *Node) serveHold(c net.Conn, _ uint16) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(adminTimeout))
	var req backup.HoldRequest
	if err := backup.Read(c, &req); err != nil {
		return
	}
	rep := n.backupReply()
	d := time.Duration(req.ForMS) * time.Millisecond
	switch k := hlr.Hold(req.Hold); {
	case k > hlr.HoldAll || d < 0 || d > maxHold:
		rep.Err = backup.ErrFailed + ": bad hold request"
	default:
		n.host.SetHold(k, time.Now().Add(d))
		n.log.Info("outbox hold", "hold", k, "for", d, "peer", c.RemoteAddr().String())
	}
	backup.Write(c, rep)
}

// spoolSnapshot copies the restore's stream (meta.Size bytes) to a
// temporary file and checks all of it before raft sees any: raft panics
// when the state machine refuses a snapshot handed to Restore (a damaged
// or foreign file would take the node down, and its followers with it).
// The index handed to raft is at least the one the state says it has
// applied, whatever the request says, or new entries would be skipped as
// applied.
func spoolSnapshot(r io.Reader, meta hlr.BackupMeta) (*os.File, hlr.BackupMeta, error) {
	f, err := os.CreateTemp("", "roam-restore-*")
	if err != nil {
		return nil, meta, err
	}
	fail := func(err error) (*os.File, hlr.BackupMeta, error) {
		f.Close()
		os.Remove(f.Name())
		return nil, meta, err
	}
	n, err := io.Copy(f, io.LimitReader(r, meta.Size))
	if err != nil {
		return fail(err)
	}
	if n != meta.Size {
		return fail(fmt.Errorf("the stream ended after %d of %d bytes", n, meta.Size))
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fail(err)
	}
	applied, err := hlr.CheckSnapshot(f)
	if err != nil {
		return fail(err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fail(err)
	}
	if meta.Index < applied {
		meta.Index = applied
	}
	if meta.Index > 1<<62 {
		return fail(fmt.Errorf("index %d out of range", meta.Index))
	}
	return f, meta, nil
}

func (n *Node) serveRestore(c net.Conn, pid uint16) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(backupTimeout))
	var req backup.Request
	if err := backup.Read(c, &req); err != nil {
		return
	}
	rep := n.backupReply()
	p := n.backupPartition(pid, &rep)
	switch {
	case p == nil:
	case req.Partitions != n.meta.Partitions:
		rep.Err = backup.ErrPartitions
	case req.Meta.Partition != pid || req.Meta.Size < 0:
		rep.Err = backup.ErrFailed + ": the backup is of another partition"
	}
	if rep.Err != "" {
		backup.Write(c, rep)
		return
	}
	if err := backup.Write(c, rep); err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(n.ctx, backupTimeout)
	defer cancel()
	out := backup.Reply{Partitions: n.meta.Partitions, Cluster: n.meta.ClusterID}
	f, meta, err := spoolSnapshot(c, req.Meta)
	if err != nil {
		out.Err = backup.ErrFailed + ": " + err.Error()
		backup.Write(c, out)
		return
	}
	defer func() { f.Close(); os.Remove(f.Name()) }()
	err = p.Restore(ctx, meta, f)
	switch {
	case err == nil:
		n.log.Info("partition restored", "partition", pid, "from_index", req.Meta.Index, "bytes", req.Meta.Size, "peer", c.RemoteAddr().String())
	case errors.Is(err, hlr.ErrNotEmpty):
		out.Err = backup.ErrNotEmpty
	case errors.Is(err, hlr.ErrNotLeader):
		out.Err = backup.ErrNoLeader // refused before anything changed: try again
	default:
		out.Err = backup.ErrFailed + ": " + err.Error()
	}
	backup.Write(c, out)
}
