package sim

import (
	"sort"
	"time"
)

// SlowAfter is the send->ack time beyond which a send counts as stalled
// in the per-fault table.
const SlowAfter = time.Second

// impactWindow bounds how long after a fault its effects are counted.
const impactWindow = 30 * time.Second

// FaultImpact is what one node fault did to the clients' sends, from the
// history alone.
type FaultImpact struct {
	AtS    float64 `json:"at_s"`
	Kind   string  `json:"kind"`
	Target string  `json:"target"`
	// WindowS is how long after the fault was examined: until the next
	// node fault, 30 s, or the end of the run.
	WindowS float64 `json:"window_s"`
	Sends   int     `json:"sends"`  // sends started in the window
	Failed  int     `json:"failed"` // of those, ended without an ack
	Slow    int     `json:"slow"`   // acked, but after more than SlowAfter
	// MaxWaitMs is the longest a send started in the window waited for
	// its ack or its error.
	MaxWaitMs float64 `json:"max_wait_ms"`
	// AckGapMs is the longest stretch of the window in which no send at
	// all was acknowledged (the cluster-wide availability gap).
	AckGapMs float64 `json:"ack_gap_ms"`
	// RecoveredS is the time from the fault until the last stalled or
	// failed send of the window ended: from then on every send went
	// through at normal speed. 0 when no send stalled.
	RecoveredS float64 `json:"recovered_s"`
	// Worst is the send that waited MaxWaitMs, for a diagnosis.
	Worst *SlowSend `json:"worst,omitempty"`
	// FrozenMaxWaitMs (pauses only) is the longest wait of a send that
	// began while the node was frozen (from the SIGSTOP to the SIGCONT,
	// the "resume" event): what waiting on a frozen node cost. MaxWaitMs
	// also counts sends begun after the node woke, slowed by whatever
	// came next (a leadership moving back, another fault's aftermath).
	FrozenMaxWaitMs float64 `json:"frozen_max_wait_ms,omitempty"`
}

// SlowSend describes one send of a fault window.
type SlowSend struct {
	StartS     float64 `json:"start_s"`
	FromDevice string  `json:"from_device"`
	To         string  `json:"to"`
	NodeAt     string  `json:"node_at"`
	NodeEnd    string  `json:"node_end"`
	Outcome    string  `json:"outcome"`
	Err        string  `json:"err,omitempty"`
}

// nodeFault says whether a fault event starts an impact window.
func nodeFault(kind string) bool {
	switch kind {
	case FaultKill, FaultPause, FaultLeave, FaultJoin, FaultPartition, FaultGateDrop, FaultGateReset, FaultClientReset:
		return true
	}
	return false
}

// Impacts computes a FaultImpact for every node fault (kill, pause,
// leave, join, partition, gatedrop, gatereset, clientreset) in faults. It is a pure function of its input;
// runEnd bounds the last window.
func Impacts(sends []Send, faults []FaultEvent, runEnd time.Duration) []FaultImpact {
	var starts []FaultEvent
	for _, f := range faults {
		if nodeFault(f.Kind) {
			starts = append(starts, f)
		}
	}
	sort.SliceStable(starts, func(i, j int) bool { return starts[i].At < starts[j].At })
	var acks []time.Duration
	for _, s := range sends {
		if s.Outcome == Acked {
			acks = append(acks, s.End)
		}
	}
	sort.Slice(acks, func(i, j int) bool { return acks[i] < acks[j] })
	out := make([]FaultImpact, 0, len(starts))
	for i, f := range starts {
		from, to := f.At, f.At+impactWindow
		if i+1 < len(starts) && starts[i+1].At < to {
			to = starts[i+1].At
		}
		if runEnd > from && runEnd < to {
			to = runEnd
		}
		im := FaultImpact{AtS: f.AtS, Kind: f.Kind, Target: f.Target, WindowS: (to - from).Seconds()}
		frozenTo := time.Duration(-1)
		if f.Kind == FaultPause {
			frozenTo = to
			for _, g := range faults {
				if g.Kind == "resume" && g.Target == f.Target && g.At >= f.At {
					frozenTo = min(frozenTo, g.At)
					break
				}
			}
		}
		var last time.Duration
		for _, s := range sends {
			if s.Start < from || s.Start >= to {
				continue
			}
			im.Sends++
			wait := s.End - s.Start
			if s.Start < frozenTo {
				im.FrozenMaxWaitMs = max(im.FrozenMaxWaitMs, float64(wait.Microseconds())/1000)
			}
			if ms := float64(wait.Microseconds()) / 1000; ms > im.MaxWaitMs {
				im.MaxWaitMs = ms
				im.Worst = &SlowSend{StartS: s.Start.Seconds(), FromDevice: s.FromDevice, To: s.To, NodeAt: s.NodeAt, NodeEnd: s.NodeEnd,
					Outcome: s.Outcome.String(), Err: s.Err}
			}
			bad := false
			switch {
			case s.Outcome != Acked:
				im.Failed++
				bad = true
			case wait > SlowAfter:
				im.Slow++
				bad = true
			}
			if bad && s.End > last {
				last = s.End
			}
		}
		if last > from {
			im.RecoveredS = (last - from).Seconds()
		}
		im.AckGapMs = float64(longestGap(acks, from, to).Microseconds()) / 1000
		out = append(out, im)
	}
	return out
}

// longestGap is the longest interval inside [from, to] that holds none of
// the sorted times ts.
func longestGap(ts []time.Duration, from, to time.Duration) time.Duration {
	i := sort.Search(len(ts), func(i int) bool { return ts[i] >= from })
	prev, gap := from, time.Duration(0)
	for ; i < len(ts) && ts[i] <= to; i++ {
		if d := ts[i] - prev; d > gap {
			gap = d
		}
		prev = ts[i]
	}
	if d := to - prev; d > gap {
		gap = d
	}
	return gap
}
