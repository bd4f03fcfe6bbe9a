package node

import (
	"bufio"
	"bytes"
	"testing"

	"github.com/hashicorp/raft"
)

func TestHeartbeatFrame_RoundTrip(t *testing.T) {
	in := []hbReq{{Pid: 3, Term: 7, Version: 3, ID: []byte("node1"), Addr: []byte("127.0.0.1:1"), Leader: []byte("127.0.0.1:1")}}
	var buf bytes.Buffer
	if err := writeHBFrame(&buf, in); err != nil {
		t.Fatal(err)
	}
	var out []hbReq
	if err := readHBFrame(bufio.NewReader(&buf), &out); err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || out[0].Pid != 3 || out[0].Term != 7 || string(out[0].ID) != "node1" {
		t.Fatalf("round trip: %+v", out)
	}
}

func TestHeartbeatFrame_RejectsBombsAndOversize(t *testing.T) {
	for name, b := range map[string][]byte{
		"oversized length": {0xff, 0xff, 0xff, 0xff},
		"array32 bomb":     {0, 0, 0, 5, 0xdd, 0xff, 0xff, 0xff, 0xff},
		"truncated":        {0, 0, 0, 9, 0x91},
	} {
		var out []hbReq
		if err := readHBFrame(bufio.NewReader(bytes.NewReader(b)), &out); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestIsHeartbeat(t *testing.T) {
	hb := &raft.AppendEntriesRequest{Term: 2, RPCHeader: raft.RPCHeader{Addr: []byte("a")}}
	if !isHeartbeat(hb) {
		t.Fatal("heartbeat not recognised")
	}
	for _, r := range []*raft.AppendEntriesRequest{
		{Term: 2, RPCHeader: raft.RPCHeader{Addr: []byte("a")}, Entries: []*raft.Log{{}}},
		{Term: 2, RPCHeader: raft.RPCHeader{Addr: []byte("a")}, LeaderCommitIndex: 4},
		{Term: 2, RPCHeader: raft.RPCHeader{Addr: []byte("a")}, PrevLogEntry: 1},
		{Term: 0, RPCHeader: raft.RPCHeader{Addr: []byte("a")}},
	} {
		if isHeartbeat(r) {
			t.Errorf("%+v taken for a heartbeat", r)
		}
	}
}

// FuzzHeartbeatFrame: whatever a peer sends, reading a heartbeat batch
// never panics or allocates without bound.
func FuzzHeartbeatFrame(f *testing.F) {
	var ok bytes.Buffer
	writeHBFrame(&ok, []hbReq{{Pid: 1, Term: 1, ID: []byte("x")}})
	f.Add(ok.Bytes())
	f.Add([]byte{0, 0, 0, 5, 0xdd, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		var reqs []hbReq
		readHBFrame(bufio.NewReader(bytes.NewReader(b)), &reqs)
		var resps []hbResp
		readHBFrame(bufio.NewReader(bytes.NewReader(b)), &resps)
	})
}
