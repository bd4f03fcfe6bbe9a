// Package backup writes a consistent snapshot of every partition of a
// running cluster to a directory, and restores such a directory into a new
// cluster. Both talk to the nodes over the internal port (mutual TLS with a
// certificate of the cluster's CA), one stream per partition, to that
// partition's leader: mux.KindBackup and mux.KindRestore, served by package
// node (backup_serve.go).
//
// The stream protocol. Every message is a uint32 big-endian length and a
// msgpack map of at most MaxMessage bytes.
//
// Backup (arg = partition id): the server sends a Reply; when its Err is
// empty, Reply.Meta.Size bytes of the partition's snapshot follow and the
// server closes.
//
// Restore (arg = partition id): the client sends a Request (the backup's
// meta); the server answers a Reply: an error, or Err "" to say "send";
// the client then sends Meta.Size bytes, and the server answers a last
// Reply with the outcome.
//
// Hold (arg 0): the client sends a HoldRequest; the server holds its
// partitions' outboxes as asked (hlr.Hold) until the deadline and answers
// a Reply (with the members).
//
// Errors name the problem with a stable word: ErrNotLeader (Leader names
// the leader's internal address when known), ErrNoLeader (none now: try
// again), ErrNotHere (this node holds no replica), ErrNotEmpty (restore
// only into a new cluster), ErrPartitions (the backup's partition count is
// not the cluster's), ErrFailed (with the reason after a colon).
package backup

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/roamhq/roam/hlr"
	"github.com/roamhq/roam/wire"
)

// MaxMessage bounds one protocol message (not the snapshot bytes).
const MaxMessage = 1 << 20

// The stable error words of Reply.Err.
const (
	ErrNotLeader  = "not_leader"
	ErrNoLeader   = "no_leader"
	ErrNotHere    = "not_here"
	ErrNotEmpty   = "not_empty"
	ErrPartitions = "partitions"
	ErrFailed     = "failed"
)

// Reply is a server's answer.
type Reply struct {
	Err        string         `msgpack:"err,omitempty"`
	Leader     string         `msgpack:"leader,omitempty"`  // with ErrNotLeader
	Members    []string       `msgpack:"members,omitempty"` // internal addresses of the live nodes
	Partitions int            `msgpack:"partitions"`        // the cluster's partition count
	Cluster    string         `msgpack:"cluster,omitempty"` // the cluster id
	Meta       hlr.BackupMeta `msgpack:"meta"`
}

// Request opens a restore.
type Request struct {
	Partitions int            `msgpack:"partitions"` // of the backup's cluster
	Meta       hlr.BackupMeta `msgpack:"meta"`
}

// HoldRequest asks a node to hold its outbox: Hold is an hlr.Hold, ForMS
// how long (the tool renews it while it runs; 0 with HoldNone releases).
type HoldRequest struct {
	Hold  uint8 `msgpack:"hold"`
	ForMS int64 `msgpack:"for_ms"`
}

// Write writes one message.
func Write(w io.Writer, v any) error {
	b, err := msgpack.Marshal(v)
	if err != nil {
		return err
	}
	if len(b) > MaxMessage {
		return fmt.Errorf("backup: message of %d bytes", len(b))
	}
	buf := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(b)), uint32(len(b)))
	_, err = w.Write(append(buf, b...))
	return err
}

// Read reads one message into v.
func Read(r io.Reader, v any) error {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > MaxMessage {
		return fmt.Errorf("backup: message of %d bytes (at most %d)", n, MaxMessage)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return err
	}
	// wire.Decode checks every declared length against the bytes there
	// before anything is allocated: msgpack.Unmarshal took a bin32 length
	// of 3.3 GB in a 60-byte message at its word (make fuzz-short hung).
	return wire.Decode(b, v)
}
