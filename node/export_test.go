package node

import "bytes"

// KindHeartbeat is the mux kind of coalesced heartbeats, for the tests
// of package node_test.
const KindHeartbeat = kindHeartbeat

// ForgedHeartbeats encodes one heartbeat batch, as the 'H' stream
// carries it, with the given term for every partition, claiming Raft
// server id and address addr.
func ForgedHeartbeats(partitions int, term uint64, id, addr string) []byte {
	reqs := make([]hbReq, 0, partitions)
	for pid := range partitions {
		reqs = append(reqs, hbReq{Pid: uint16(pid), Term: term, Version: 3, ID: []byte(id), Addr: []byte(addr), Leader: []byte(addr)})
	}
	var buf bytes.Buffer
	writeHBFrame(&buf, reqs)
	return buf.Bytes()
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
