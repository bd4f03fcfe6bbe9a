package node

import (
	"fmt"
	"strings"
)

// plan is the reconciler's decision for one partition, as a pure
// function: from the partition's raft configuration, the replicas the
// placement assigns it and what is known of each server, it picks the one
// membership change to make this round (or none). It reads no clock,
// does no I/O and touches no raft; reconcilePartition gathers its inputs
// and carries out what it returns. The same inputs always give the same
// change. testdata/plan.txt pins every rule (plan_test.go).
//
// The rules, first match wins (etcd-io/raft's confchange has the same
// shape: a pure step from one configuration toward another):
//
//  0. Only the leader plans; anyone else waits.
//  1. A placed replica missing from the configuration is added as a
//     non-voter (so it catches up without counting toward quorum), in
//     placement order. One with no known address, or that is leaving, is
//     passed over.
//  2. A placed non-voter within catchUpSlack entries of the leader's last
//     index is promoted, in placement order, unless it is leaving or the
//     promotion would leave the voters without a live majority.
//  3. Only when every placed replica is a voter, a server that is not
//     placed is removed, in configuration order: a removal never takes the
//     voters below the R placed ones. If that server is the leader itself,
//     it transfers its leadership first (the new leader removes it). A
//     voter is not removed if the remaining voters would have no live
//     majority (a dead voter's removal never costs one).
//  4. A placed voter whose address differs from the one gossip gives it is
//     re-addressed.
//  5. Otherwise the partition is settled (changeNone).
//
// Dead nodes and leaving nodes reach plan through the placement: a dead
// node stays placed for DeadGrace and is neither replaced nor removed
// before; a leaving node is dropped from the placement at once. plan
// only has to keep a dead or leaving replica from counting as live.
func plan(conf []confServer, placed []placedReplica, st planStatus) change {
	if !st.Leader {
		return waitf("not the leader")
	}
	inConf := make(map[string]confServer, len(conf))
	var voters []string
	for _, s := range conf {
		inConf[s.ID] = s
		if s.Voter {
			voters = append(voters, s.ID)
		}
	}
	isPlaced := make(map[string]bool, len(placed))
	for _, p := range placed {
		isPlaced[p.ID] = true
	}
	var waits []string

	// 1. Add a placed replica the configuration lacks.
	for _, p := range placed {
		if _, ok := inConf[p.ID]; ok {
			continue
		}
		switch {
		case p.Addr == "":
			waits = append(waits, p.ID+" has no address")
		case st.of(p.ID).Leaving:
			waits = append(waits, p.ID+" is leaving")
		default:
			return change{Kind: changeAddNonvoter, ID: p.ID, Addr: p.Addr}
		}
	}
	// 2. Promote a placed non-voter that has caught up.
	for _, p := range placed {
		s, ok := inConf[p.ID]
		if !ok || s.Voter {
			continue
		}
		ss := st.of(p.ID)
		switch {
		case ss.Leaving:
			waits = append(waits, p.ID+" is leaving")
		case !ss.Known:
			waits = append(waits, p.ID+" catching up (progress unknown)")
		case ss.Match+catchUpSlack < st.LastIndex:
			waits = append(waits, fmt.Sprintf("%s catching up (%d behind)", p.ID, st.LastIndex-ss.Match))
		case !st.liveMajority(append(voters[:len(voters):len(voters)], p.ID)):
			waits = append(waits, "promoting "+p.ID+" would leave no live majority")
		default:
			return change{Kind: changePromote, ID: p.ID, Addr: s.Addr}
		}
	}
	// 3. Remove a server that is not placed, once every placed replica
	// votes.
	// Rules 1 and 2 noted a wait for every placed replica that is not a
	// voter and was neither added nor promoted.
	if len(waits) > 0 {
		return waitf("%s", strings.Join(waits, "; "))
	}
	for _, s := range conf {
		if isPlaced[s.ID] {
			continue
		}
		if s.Voter && !st.liveMajority(without(voters, s.ID)) {
			waits = append(waits, "removing "+s.ID+" would leave no live majority")
			continue
		}
		if s.ID == st.Self {
			return change{Kind: changeTransferThenRemove, ID: s.ID, Addr: s.Addr}
		}
		return change{Kind: changeRemove, ID: s.ID, Addr: s.Addr}
	}
	if len(waits) > 0 {
		return waitf("%s", strings.Join(waits, "; "))
	}
	// 4. Re-address a placed voter that moved (a restart on a new port).
	for _, p := range placed {
		if p.Addr != "" && inConf[p.ID].Addr != p.Addr {
			return change{Kind: changeReaddress, ID: p.ID, Addr: p.Addr}
		}
	}
	return change{Kind: changeNone}
}

// confServer is one server of a partition's raft configuration.
type confServer struct {
	ID    string
	Addr  string // internal address, as the configuration has it
	Voter bool   // false: a non-voter
}

// placedReplica is a node the placement assigns to the partition, with
// the internal address gossip gives it ("" if none is known).
type placedReplica struct {
	ID   string
	Addr string
}

// liveness is what gossip says of a node.
type liveness uint8

const (
	livenessGone    liveness = iota // unknown to gossip, or left
	livenessAlive                   // answers probes
	livenessSuspect                 // may have stopped
	livenessDead                    // stopped answering
)

func (l liveness) String() string {
	switch l {
	case livenessAlive:
		return "alive"
	case livenessSuspect:
		return "suspect"
	case livenessDead:
		return "dead"
	}
	return "gone"
}

// serverStatus is what the leader knows of one server.
type serverStatus struct {
	Live    liveness
	Leaving bool   // the node announced a graceful leave
	Known   bool   // Match was reported (the node answered a status query)
	Match   uint64 // the last log index the node reported
}

// planStatus is what plan knows beyond the configuration and placement.
type planStatus struct {
	Self      string // this node's id
	Leader    bool   // this node leads the partition
	LastIndex uint64 // the leader's last log index
	Servers   map[string]serverStatus
}

// of returns the status of server id (gone when nothing is known).
func (st planStatus) of(id string) serverStatus { return st.Servers[id] }

// liveMajority reports whether more than half of voters are live: this
// node (it is running the plan) and those gossip reports alive, leaving
// or not (a leaving node still runs until it is removed). Suspect, dead
// and gone voters do not count.
func (st planStatus) liveMajority(voters []string) bool {
	live := 0
	for _, id := range voters {
		if id == st.Self || st.of(id).Live == livenessAlive {
			live++
		}
	}
	return 2*live > len(voters)
}

// without returns ids less id, in a new slice.
func without(ids []string, id string) []string {
	out := make([]string, 0, len(ids))
	for _, x := range ids {
		if x != id {
			out = append(out, x)
		}
	}
	return out
}

// changeKind is the kind of membership change plan picks.
type changeKind uint8

const (
	// changeNone: the configuration is the placement; the partition is
	// settled.
	changeNone changeKind = iota
	// changeWait: something differs but no change can be made now
	// (a replica is catching up, an address is unknown, a removal would
	// cost the live majority); Why says what.
	changeWait
	// changeAddNonvoter adds ID at Addr as a non-voter.
	changeAddNonvoter
	// changePromote makes non-voter ID (at Addr) a voter.
	changePromote
	// changeRemove removes server ID.
	changeRemove
	// changeTransferThenRemove: ID is the leader itself; it hands its
	// leadership to a voter, whose plan then removes it.
	changeTransferThenRemove
	// changeReaddress gives voter ID its new address Addr.
	changeReaddress
)

func (k changeKind) String() string {
	switch k {
	case changeNone:
		return "none"
	case changeWait:
		return "wait"
	case changeAddNonvoter:
		return "add-nonvoter"
	case changePromote:
		return "promote"
	case changeRemove:
		return "remove"
	case changeTransferThenRemove:
		return "transfer-then-remove"
	case changeReaddress:
		return "readdress"
	}
	return fmt.Sprintf("changeKind(%d)", uint8(k))
}

// change is plan's answer: at most one membership change.
type change struct {
	Kind changeKind
	ID   string // the server it changes
	Addr string // the address it uses (add, promote, readdress)
	Why  string // for changeWait: what it waits for
}

func waitf(format string, args ...any) change {
	return change{Kind: changeWait, Why: fmt.Sprintf(format, args...)}
}

// String is how the tests and the logs show a change.
func (c change) String() string {
	switch c.Kind {
	case changeNone:
		return "none"
	case changeWait:
		return "wait: " + c.Why
	case changeRemove, changeTransferThenRemove:
		return c.Kind.String() + " " + c.ID
	}
	return c.Kind.String() + " " + c.ID + " " + c.Addr
}
