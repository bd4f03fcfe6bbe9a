package sim

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"time"
)

// Fault kinds.
const (
	FaultKill       = "kill"       // SIGKILL a node, restart it after Dur
	FaultPause      = "pause"      // SIGSTOP a node, SIGCONT after Dur
	FaultLeave      = "leave"      // SIGTERM (graceful leave), restart after Dur
	FaultJoin       = "join"       // start a new node that joins the cluster
	FaultDisconnect = "disconnect" // drop a client device abruptly, back after Dur
	FaultPartition  = "partition"  // cut a node (or a minority) off from the others both ways (proxies), for Dur
	// Gate faults act inside a node through its fault-control endpoint
	// (roamd -fault-control), so they work whatever the internal port's
	// encryption: no connection is dropped by gatedrop, and no Raft
	// traffic is touched by either.
	FaultGateDrop  = "gatedrop"  // drop one-way gate items received by a node (or all nodes) with probability P, for Dur
	FaultGateReset = "gatereset" // close every gate connection of a node (or all) every Every, for Dur
	// clientreset kills the client connections of a node (or all) from
	// outside (ss -K, see clientreset.go), every Every for Dur: the
	// clients resume, and resumes in flight are cut.
	FaultClientReset = "clientreset"
)

// AllNodes as PlannedFault.Node: the fault hits every node.
const AllNodes = -1

// oneWayKinds are the sets of gate one-way item kinds a gatedrop draws
// from (nil stands for every kind, including kinds added later).
func oneWayKinds() [][]string {
	return [][]string{nil, nil, {"deliver"}, {"cancel"}, {"deliver", "cancel"}, {"presence", "notify"}}
}

// PlannedFault is one entry of the schedule.
type PlannedFault struct {
	At   time.Duration
	Kind string
	// Node is the index of the target node (kill, pause, leave); the
	// index is taken modulo the number of nodes at the time.
	Node int
	// Device is the index of the target device (disconnect), modulo the
	// number of devices.
	Device int
	Dur    time.Duration
	// Size is how many nodes a partition cuts off together (the target
	// and the ones after it), at most a minority.
	Size int
	// P is a gatedrop's drop probability and Kinds its item kinds (nil:
	// every kind); Every spaces a gatereset's resets.
	P     float64
	Kinds []string
	Every time.Duration
}

func (f PlannedFault) String() string {
	switch f.Kind {
	case FaultJoin:
		return fmt.Sprintf("%6.1fs join", f.At.Seconds())
	case FaultDisconnect:
		return fmt.Sprintf("%6.1fs disconnect device#%d for %v", f.At.Seconds(), f.Device, f.Dur)
	}
	target := fmt.Sprintf("node#%d", f.Node)
	if f.Node == AllNodes {
		target = "every node"
	}
	switch f.Kind {
	case FaultPartition:
		return fmt.Sprintf("%6.1fs partition %d node(s) from node#%d for %v", f.At.Seconds(), f.Size, f.Node, f.Dur)
	case FaultGateDrop:
		return fmt.Sprintf("%6.1fs gatedrop %s p=%.2f kinds=%s for %v", f.At.Seconds(), target, f.P, kindsString(f.Kinds), f.Dur)
	case FaultGateReset, FaultClientReset:
		return fmt.Sprintf("%6.1fs %s %s every %v for %v", f.At.Seconds(), f.Kind, target, f.Every, f.Dur)
	}
	return fmt.Sprintf("%6.1fs %s %s for %v", f.At.Seconds(), f.Kind, target, f.Dur)
}

// PlanFaults draws the fault schedule from seed. Node faults (kinds
// among kill, pause, leave, join, partition, gatedrop, gatereset) never
// overlap: one node at most is affected at a time (a gate fault may hit
// every node, but takes no node down), so a 3-node cluster with 3
// replicas keeps a majority. Every kind in kinds appears at least once when the run is
// long enough; disconnects come every disconnectEvery.
func PlanFaults(seed uint64, dur time.Duration, nodes int, kinds []string, disconnectEvery time.Duration, devices int) []PlannedFault {
	rng := rand.New(rand.NewPCG(seed, 0xfa017))
	var nodeKinds []string
	wantDisc := false
	for _, k := range kinds {
		if k == FaultDisconnect {
			wantDisc = true
		} else if k != "" {
			nodeKinds = append(nodeKinds, k)
		}
	}
	var out []PlannedFault
	warm := 6 * time.Second
	end := dur - 3*time.Second // leave time for the last fault to heal
	if len(nodeKinds) > 0 {
		// First, each kind once in a random order; join goes last so that
		// node faults early hit the original nodes; then random kinds.
		order := append([]string(nil), nodeKinds...)
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		sort.SliceStable(order, func(i, j int) bool { return order[j] == FaultJoin && order[i] != FaultJoin })
		t := warm
		droppedOnce, resetOnce := false, false
		for i := 0; ; i++ {
			k := FaultJoin
			if i < len(order) {
				k = order[i]
			} else {
				k = nodeKinds[rng.IntN(len(nodeKinds))]
				if k == FaultJoin { // one new node per run is enough
					if len(nodeKinds) == 1 {
						break
					}
					continue
				}
			}
			f := PlannedFault{At: t + time.Duration(rng.IntN(2000))*time.Millisecond, Kind: k, Node: rng.IntN(nodes)}
			switch k {
			case FaultKill, FaultLeave:
				f.Dur = time.Duration(4000+rng.IntN(5000)) * time.Millisecond
			case FaultPause:
				f.Dur = time.Duration(3000+rng.IntN(4000)) * time.Millisecond
			case FaultPartition:
				f.Dur = time.Duration(3000+rng.IntN(4000)) * time.Millisecond
				f.Size = 1 + rng.IntN(max(1, (nodes-1)/2))
			case FaultGateDrop:
				f.Dur = time.Duration(3000+rng.IntN(5000)) * time.Millisecond
				f.P = []float64{0.3, 0.5, 0.8, 1}[rng.IntN(4)]
				ks := oneWayKinds()
				f.Kinds = ks[rng.IntN(len(ks))]
				if rng.IntN(3) == 0 {
					f.Node = AllNodes
				}
				if !droppedOnce {
					// The first gatedrop of a run drops every kind
					// (Deliver and Cancel included) at p >= 0.5.
					f.Kinds, f.P, droppedOnce = nil, max(f.P, 0.5), true
				}
			case FaultGateReset:
				f.Dur = time.Duration(2000+rng.IntN(3000)) * time.Millisecond
				f.Every = time.Duration(200+rng.IntN(400)) * time.Millisecond
				if rng.IntN(3) == 0 {
					f.Node = AllNodes
				}
			case FaultClientReset:
				f.Dur = time.Duration(2000+rng.IntN(3000)) * time.Millisecond
				f.Every = time.Duration(150+rng.IntN(500)) * time.Millisecond
				if rng.IntN(2) == 0 || !resetOnce {
					f.Node, resetOnce = AllNodes, true // the first one hits every node
				}
			}
			if f.At+f.Dur > end {
				break
			}
			out = append(out, f)
			t = f.At + f.Dur + time.Duration(4000+rng.IntN(3000))*time.Millisecond
			if k == FaultJoin {
				nodes++
				t += 4 * time.Second
			}
		}
	}
	if wantDisc && disconnectEvery > 0 && devices > 0 {
		for t := warm / 2; t < end; t += disconnectEvery {
			at := t + time.Duration(rng.IntN(int(disconnectEvery/time.Millisecond)))*time.Millisecond
			if at >= end {
				break
			}
			out = append(out, PlannedFault{At: at, Kind: FaultDisconnect, Device: rng.IntN(devices),
				Dur: time.Duration(1000+rng.IntN(4000)) * time.Millisecond})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At < out[j].At })
	return out
}

func kindsString(k []string) string {
	if len(k) == 0 {
		return "all"
	}
	return strings.Join(k, ",")
}

// ParseKinds splits a comma-separated fault list and checks it.
func ParseKinds(s string) ([]string, error) {
	var out []string
	for _, k := range strings.Split(s, ",") {
		k = strings.TrimSpace(k)
		switch k {
		case "":
		case FaultKill, FaultPause, FaultLeave, FaultJoin, FaultDisconnect, FaultPartition, FaultGateDrop, FaultGateReset, FaultClientReset:
			out = append(out, k)
		default:
			return nil, fmt.Errorf("unknown fault %q (want kill, pause, leave, join, disconnect, partition, gatedrop, gatereset, clientreset)", k)
		}
	}
	return out, nil
}
