package raftnet

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/hashicorp/raft"
)

// TestCodec_CoversRaftsStructs fails when a raft upgrade adds a field to
// the structs encoded by hand, which would otherwise be dropped silently.
func TestCodec_CoversRaftsStructs(t *testing.T) {
	for v, want := range map[reflect.Type]int{
		reflect.TypeFor[raft.AppendEntriesRequest]():  7, // RPCHeader, Term, Leader, PrevLogEntry, PrevLogTerm, Entries, LeaderCommitIndex
		reflect.TypeFor[raft.AppendEntriesResponse](): 5, // RPCHeader, Term, LastLog, Success, NoRetryBackoff
		reflect.TypeFor[raft.RPCHeader]():             3, // ProtocolVersion, ID, Addr
		reflect.TypeFor[raft.Log]():                   6, // Index, Term, Type, Data, Extensions, AppendedAt
	} {
		if got := v.NumField(); got != want {
			t.Errorf("%v has %d fields; the codec encodes %d", v, got, want)
		}
	}
}

func TestCodec_RejectsShortAndLyingBodies(t *testing.T) {
	req := &raft.AppendEntriesRequest{RPCHeader: raft.RPCHeader{ID: []byte("a")}, Term: 1, LeaderCommitIndex: 3,
		Entries: []*raft.Log{{Index: 1, Data: []byte("data")}}}
	b := appendAppendReq(nil, req)
	for i := range len(b) {
		var a raft.AppendEntriesRequest
		if err := decodeAppendReq(b[:i], &a); err == nil {
			t.Fatalf("a body cut at %d of %d decoded", i, len(b))
		}
	}
	var a raft.AppendEntriesRequest
	if err := decodeAppendReq(append(b, 0), &a); err == nil {
		t.Fatal("trailing bytes accepted")
	}
	// An entry count far beyond what the bytes can hold is refused
	// before anything is allocated for it.
	bomb := appendHeader(nil, raft.RPCHeader{})
	bomb = append(bomb, 1, 0, 0, 0, 1)                // term, leader, prev entry, prev term, commit
	bomb = append(bomb, 0xff, 0xff, 0xff, 0xff, 0x0f) // 2^32-1 entries
	if err := decodeAppendReq(bomb, &a); err == nil {
		t.Fatal("entry-count bomb accepted")
	}
	// A frame length above the cap is refused before reading it.
	huge := []byte{0x7f, 0xff, 0xff, 0xff, tAppend, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	if _, _, err := readFrame(bytes.NewReader(huge), make([]byte, hdrLen), 1<<20); err == nil {
		t.Fatal("oversized frame accepted")
	}
	// A heartbeat frame that carries more than a heartbeat is refused.
	if err := decodeHeartbeat(appendAppendReq(nil, req), &a); err == nil {
		t.Fatal("an append passed off as a heartbeat")
	}
}

func TestHeartbeatFrame_ReadBack(t *testing.T) {
	req := &raft.AppendEntriesRequest{RPCHeader: raft.RPCHeader{ProtocolVersion: 3, ID: []byte("n1"), Addr: []byte("x:1")}, Term: 7, Leader: []byte("x:1")}
	f := HeartbeatFrame(nil, 9, 11, req)
	h, body, err := readFrame(bytes.NewReader(f), make([]byte, hdrLen), DefaultMaxFrame)
	if err != nil || h.typ != tHeartbeat || h.pid != 9 || h.seq != 11 {
		t.Fatalf("%+v %v", h, err)
	}
	var a raft.AppendEntriesRequest
	if err := decodeHeartbeat(body, &a); err != nil || a.Term != 7 || string(a.ID) != "n1" {
		t.Fatalf("%+v %v", a, err)
	}
}

// FuzzDecode: whatever a peer sends, the decoders never panic, and what
// decodes re-encodes to the same bytes.
func FuzzDecode(f *testing.F) {
	f.Add(appendAppendReq(nil, &raft.AppendEntriesRequest{Term: 1, Entries: []*raft.Log{{Index: 1, Data: []byte("x")}}}))
	f.Add(appendHeartbeat(nil, &raft.AppendEntriesRequest{Term: 1, Leader: []byte("a")}))
	f.Add(appendAppendResp(nil, &raft.AppendEntriesResponse{Term: 1, Success: true}))
	f.Fuzz(func(t *testing.T, b []byte) {
		var a raft.AppendEntriesRequest
		if decodeAppendReq(b, &a) == nil {
			if again := appendAppendReq(nil, &a); len(again) > len(b) {
				t.Fatalf("%d bytes decoded into a request of %d", len(b), len(again))
			}
		}
		decodeHeartbeat(b, &a)
		var r raft.AppendEntriesResponse
		decodeAppendResp(b, &r)
		splitResp(b)
		readFrame(bytes.NewReader(b), make([]byte, hdrLen), 1<<16)
	})
}
