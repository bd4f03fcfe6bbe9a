package raftnet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/hashicorp/raft"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/roamhq/roam/wire"
)

// Frame types: an append-only registry. A response has the type of its
// request with respBit set.
const (
	tAppend     byte = 1 // raft.AppendEntriesRequest (binary, below)
	tVote       byte = 2 // raft.RequestVoteRequest (msgpack)
	tPreVote    byte = 3 // raft.RequestPreVoteRequest (msgpack)
	tTimeoutNow byte = 4 // raft.TimeoutNowRequest (msgpack)
	tHeartbeat  byte = 5 // a heartbeat AppendEntriesRequest (binary, short)
	tSnapshot   byte = 6 // raft.InstallSnapshotRequest (msgpack), snapshot streams only

	respBit byte = 0x80
)

// hdrLen is the frame header: uint32 BE length of what follows it, type,
// uint16 BE partition, uint64 BE sequence number.
const hdrLen = 4 + 1 + 2 + 8

// DefaultMaxFrame bounds one frame on the wire. An AppendEntries carries
// up to MaxAppendEntries entries of up to a proposer batch each.
const DefaultMaxFrame = 256 << 20

var errShort = errors.New("raftnet: frame body too short")

type frameHdr struct {
	typ byte
	pid uint16
	seq uint64
}

// beginFrame appends a header with a placeholder length; endFrame fills
// it in.
func beginFrame(dst []byte, typ byte, pid uint16, seq uint64) ([]byte, int) {
	at := len(dst)
	dst = append(dst, 0, 0, 0, 0, typ)
	dst = binary.BigEndian.AppendUint16(dst, pid)
	dst = binary.BigEndian.AppendUint64(dst, seq)
	return dst, at
}

func endFrame(dst []byte, at int) []byte {
	binary.BigEndian.PutUint32(dst[at:], uint32(len(dst)-at-4))
	return dst
}

// readFrame reads one frame. The body is freshly allocated (decoded log
// entries alias it, and raft keeps them); it grows as bytes arrive, so a
// length that lies costs no more memory than the bytes actually sent.
func readFrame(r io.Reader, hdr []byte, maxFrame int) (frameHdr, []byte, error) {
	if _, err := io.ReadFull(r, hdr[:hdrLen]); err != nil {
		return frameHdr{}, nil, err
	}
	n := int(binary.BigEndian.Uint32(hdr))
	if n < hdrLen-4 || n > maxFrame {
		return frameHdr{}, nil, fmt.Errorf("raftnet: frame of %d bytes", n)
	}
	h := frameHdr{typ: hdr[4], pid: binary.BigEndian.Uint16(hdr[5:]), seq: binary.BigEndian.Uint64(hdr[7:])}
	n -= hdrLen - 4
	const step = 1 << 20
	body := make([]byte, 0, min(n, step))
	for len(body) < n {
		k := min(n-len(body), max(step, len(body)))
		if cap(body)-len(body) < k {
			nb := make([]byte, len(body), len(body)+k)
			copy(nb, body)
			body = nb
		}
		m, err := io.ReadFull(r, body[len(body):len(body)+k])
		body = body[:len(body)+m]
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return frameHdr{}, nil, err
		}
	}
	return h, body, nil
}

// --- primitive encoding -------------------------------------------------

func appendBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

func appendHeader(dst []byte, h raft.RPCHeader) []byte {
	dst = binary.AppendUvarint(dst, uint64(h.ProtocolVersion))
	dst = appendBytes(dst, h.ID)
	return appendBytes(dst, h.Addr)
}

// decoder reads a frame body; the first error sticks and later reads
// return zero values. Every declared length is checked against the bytes
// that remain.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errShort
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errShort
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.err = errShort
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

// bytes returns a slice of the body (not a copy); nil when empty.
func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = errShort
		return nil
	}
	if n == 0 {
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) header() raft.RPCHeader {
	return raft.RPCHeader{ProtocolVersion: raft.ProtocolVersion(d.uvarint()), ID: d.bytes(), Addr: d.bytes()}
}

func (d *decoder) done() error {
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("raftnet: %d trailing bytes", len(d.b))
	}
	return d.err
}

// --- AppendEntries and heartbeats ----------------------------------------

func appendAppendReq(dst []byte, a *raft.AppendEntriesRequest) []byte {
	dst = appendHeader(dst, a.RPCHeader)
	dst = binary.AppendUvarint(dst, a.Term)
	dst = appendBytes(dst, a.Leader)
	dst = binary.AppendUvarint(dst, a.PrevLogEntry)
	dst = binary.AppendUvarint(dst, a.PrevLogTerm)
	dst = binary.AppendUvarint(dst, a.LeaderCommitIndex)
	dst = binary.AppendUvarint(dst, uint64(len(a.Entries)))
	for _, l := range a.Entries {
		dst = binary.AppendUvarint(dst, l.Index)
		dst = binary.AppendUvarint(dst, l.Term)
		dst = append(dst, byte(l.Type))
		dst = appendBytes(dst, l.Data)
		dst = appendBytes(dst, l.Extensions)
		var at int64
		if !l.AppendedAt.IsZero() {
			at = l.AppendedAt.UnixNano()
		}
		dst = binary.AppendVarint(dst, at)
	}
	return dst
}

// minEntry is the fewest bytes an encoded log entry takes.
const minEntry = 6

func decodeAppendReq(b []byte, a *raft.AppendEntriesRequest) error {
	d := decoder{b: b}
	a.RPCHeader = d.header()
	a.Term = d.uvarint()
	a.Leader = d.bytes()
	a.PrevLogEntry = d.uvarint()
	a.PrevLogTerm = d.uvarint()
	a.LeaderCommitIndex = d.uvarint()
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)/minEntry) {
		return fmt.Errorf("raftnet: %d entries in %d bytes", n, len(d.b))
	}
	if n > 0 {
		logs := make([]raft.Log, n)
		a.Entries = make([]*raft.Log, n)
		for i := range logs {
			l := &logs[i]
			l.Index = d.uvarint()
			l.Term = d.uvarint()
			l.Type = raft.LogType(d.byte())
			l.Data = d.bytes()
			l.Extensions = d.bytes()
			if at := d.varint(); at != 0 {
				l.AppendedAt = time.Unix(0, at)
			}
			a.Entries[i] = l
		}
	}
	return d.done()
}

// isHeartbeat is raft's own test for a heartbeat (net_transport.go): only
// these take the receiver's fast path.
func isHeartbeat(a *raft.AppendEntriesRequest) bool {
	return a.Term != 0 && (len(a.RPCHeader.Addr) > 0 || len(a.Leader) > 0) &&
		a.PrevLogEntry == 0 && a.PrevLogTerm == 0 && len(a.Entries) == 0 && a.LeaderCommitIndex == 0
}

func appendHeartbeat(dst []byte, a *raft.AppendEntriesRequest) []byte {
	dst = appendHeader(dst, a.RPCHeader)
	dst = binary.AppendUvarint(dst, a.Term)
	return appendBytes(dst, a.Leader)
}

func decodeHeartbeat(b []byte, a *raft.AppendEntriesRequest) error {
	d := decoder{b: b}
	a.RPCHeader = d.header()
	a.Term = d.uvarint()
	a.Leader = d.bytes()
	if err := d.done(); err != nil {
		return err
	}
	if !isHeartbeat(a) {
		return errors.New("raftnet: heartbeat frame that is not a heartbeat")
	}
	return nil
}

func appendAppendResp(dst []byte, r *raft.AppendEntriesResponse) []byte {
	dst = appendHeader(dst, r.RPCHeader)
	dst = binary.AppendUvarint(dst, r.Term)
	dst = binary.AppendUvarint(dst, r.LastLog)
	var f byte
	if r.Success {
		f |= 1
	}
	if r.NoRetryBackoff {
		f |= 2
	}
	return append(dst, f)
}

func decodeAppendResp(b []byte, r *raft.AppendEntriesResponse) error {
	d := decoder{b: b}
	r.RPCHeader = d.header()
	r.Term = d.uvarint()
	r.LastLog = d.uvarint()
	f := d.byte()
	r.Success, r.NoRetryBackoff = f&1 != 0, f&2 != 0
	return d.done()
}

// --- everything else: msgpack, decoded strictly ---------------------------

func appendMsgpack(dst []byte, v any) ([]byte, error) {
	b, err := msgpack.Marshal(v)
	if err != nil {
		return dst, err
	}
	return append(dst, b...), nil
}

func decodeMsgpack(b []byte, v any) error { return wire.Decode(b, v) }

// Responses start with an error string (empty: none), then the body.
func appendRespErr(dst []byte, err error) []byte {
	if err == nil {
		return append(dst, 0)
	}
	return appendBytes(dst, []byte(err.Error()))
}

// splitResp returns the remote error (nil if none) and the body after it.
func splitResp(b []byte) (remote error, body []byte, err error) {
	d := decoder{b: b}
	msg := d.bytes()
	if d.err != nil {
		return nil, nil, d.err
	}
	if len(msg) > 0 {
		remote = errors.New(string(msg))
	}
	return remote, d.b, nil
}

// HeartbeatFrame appends a heartbeat request frame as StreamRPC carries
// it, for tests and tools that speak the protocol by hand.
func HeartbeatFrame(dst []byte, pid uint16, seq uint64, req *raft.AppendEntriesRequest) []byte {
	dst, at := beginFrame(dst, tHeartbeat, pid, seq)
	return endFrame(appendHeartbeat(dst, req), at)
}

// ReadHeartbeatAnswer reads one answer to a heartbeat or AppendEntries
// from a StreamRPC connection: its partition and sequence number, the
// error the receiver answered (remote) and the response.
func ReadHeartbeatAnswer(r io.Reader) (pid uint16, seq uint64, resp raft.AppendEntriesResponse, remote, err error) {
	h, body, err := readFrame(r, make([]byte, hdrLen), DefaultMaxFrame)
	if err != nil {
		return 0, 0, resp, nil, err
	}
	if h.typ != tHeartbeat|respBit && h.typ != tAppend|respBit {
		return h.pid, h.seq, resp, nil, fmt.Errorf("raftnet: answer of type %d", h.typ)
	}
	remote, rest, err := splitResp(body)
	if err == nil {
		err = decodeAppendResp(rest, &resp)
	}
	return h.pid, h.seq, resp, remote, err
}
