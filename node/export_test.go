package node

import (
	"context"
	"time"

	"github.com/hashicorp/raft"

	"github.com/roamhq/roam/hlr"

	"github.com/roamhq/roam/node/mux"
	"github.com/roamhq/roam/node/raftnet"
)

// KindHeartbeat is the mux kind that carries Raft heartbeats (every Raft
// RPC: package raftnet), for the tests of package node_test.
const KindHeartbeat = mux.KindRaftNet

// ForgedHeartbeats encodes heartbeat frames, as the raftnet RPC stream
// carries them, with the given term for every partition, claiming Raft
// server id and address addr.
func ForgedHeartbeats(partitions int, term uint64, id, addr string) []byte {
	var out []byte
	for pid := range partitions {
		out = raftnet.HeartbeatFrame(out, uint16(pid), uint64(pid+1), &raft.AppendEntriesRequest{
			RPCHeader: raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte(id), Addr: []byte(addr)},
			Term:      term, Leader: []byte(addr),
		})
	}
	return out
}

// ForgetMembers puts n's membership view back where New leaves it until
// the reconciler's first pass (a restarting node opens its partitions,
// and may lead some, before that). The reconciler fills it again at its
// next pass.
func (n *Node) ForgetMembers() {
	n.view.mu.Lock()
	n.view.members = nil
	n.view.mu.Unlock()
}

// QuietHeartbeat is the heartbeat timeout leaders run with (quiet.go),
// and false when the timing leaves no room for one.
func QuietHeartbeat(t hlr.RaftTiming) (time.Duration, bool) { return quietTiming(t) }

// ExecCmd runs cmd at the leader of its partition, as the vlr does (the
// tests that need a step of a multi-partition request to stop halfway).
func (n *Node) ExecCmd(ctx context.Context, cmd hlr.Cmd) (hlr.Result, error) {
	return n.rt.Exec(ctx, cmd)
}
