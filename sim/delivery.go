package sim

import (
	"fmt"
	"sort"
	"time"
)

// DefaultDeliveryBound is the bounded-delivery promise (DESIGN §4.7): an
// online device has every committed message of its inbox within 2 s.
const DefaultDeliveryBound = 2 * time.Second

// DeliveryResult is what CheckDelivery found.
type DeliveryResult struct {
	BoundMs float64 `json:"bound_ms"`
	// Checked counts the (acked message, device) pairs held to the bound.
	Checked int `json:"checked"`
	// Late: delivered, but after the deadline; Missing: not delivered at
	// all although the device stayed online past the deadline.
	Late    int `json:"late"`
	Missing int `json:"missing"`
	// Shifted counts the checked pairs whose deadline moved past a
	// cut-off of the device's node.
	Shifted int `json:"shifted"`
	// NotOnline counts the pairs not held to the bound: the device was
	// not online when the message was acked, or left before the deadline
	// without having it.
	NotOnline int `json:"not_online"`
	// Latency of the checked pairs that were delivered, from the ack (or
	// from the end of the cut-off that shifted it); a delivery before the
	// ack counts as 0.
	P50ms float64 `json:"p50_ms"`
	P90ms float64 `json:"p90_ms"`
	P99ms float64 `json:"p99_ms"`
	Maxms float64 `json:"max_ms"`
	// Findings name the first violations.
	Findings []Finding `json:"-"`
}

// Violations is Late + Missing.
func (r *DeliveryResult) Violations() int { return r.Late + r.Missing }

// Held reports whether the bound of the contract held (DESIGN.md §4.7:
// p99 ≤ the bound after commit): no checked message went undelivered and
// the 99th percentile of the delivery latency is within the bound. Single
// late deliveries (a notice lost several times in a row under a fault
// that drops half of every one-way item) are counted and listed, but the
// run fails on them only once they reach the tail the bound is about.
func (r *DeliveryResult) Held() bool {
	return r.Missing == 0 && (r.Checked == 0 || r.P99ms <= r.BoundMs)
}

// CheckDelivery checks bounded delivery over a history. It is a pure
// function of h. For every acked send s to user U and every device record
// of U that is not a revoked session's:
//
//   - A, the time s's ack came back, is taken as the commit time (the
//     commit happened before it, so a deadline counted from A is never
//     stricter than one counted from the commit);
//   - the pair is held to the bound only if the device was online at A:
//     inside one of its Stretches (logged in, synced, connected to one
//     node);
//   - E starts at A; while a Cutoff of that stretch's node (paused,
//     partitioned, killed, leaving) overlaps [E, E+bound), E moves to the
//     cut-off's end: a cut-off node cannot be expected to deliver, but it
//     must catch up within the bound once it is back;
//   - the deadline is E+bound; a device that left (its stretch ended)
//     before the deadline without the message is not held to it
//     (NotOnline), one that had it already counts as checked;
//   - the device must have received s by the deadline: otherwise Late
//     (received later) or Missing (never).
//
// Gate faults (gatedrop, gatereset) and faults of other nodes move no
// deadline: delivery must survive lost one-way items and failovers.
func CheckDelivery(h History, bound time.Duration) DeliveryResult {
	res := DeliveryResult{BoundMs: float64(bound.Microseconds()) / 1000}
	add := findingAdder(&res.Findings)
	byTo := map[string][]*Send{}
	for i := range h.Sends {
		if s := &h.Sends[i]; s.Outcome == Acked {
			byTo[s.To] = append(byTo[s.To], s)
		}
	}
	cuts := map[string][]Cutoff{}
	for _, c := range h.Cutoffs {
		cuts[c.Addr] = append(cuts[c.Addr], c)
	}
	for a := range cuts {
		cs := cuts[a]
		sort.Slice(cs, func(i, j int) bool { return cs[i].From < cs[j].From })
	}
	var lat []time.Duration
	for _, d := range h.Devices {
		if d.Revoked || len(d.Online) == 0 {
			continue
		}
		first := make(map[string]time.Duration, len(d.Delivered))
		for _, m := range d.Delivered {
			if _, ok := first[m.Body]; !ok {
				first[m.Body] = m.At
			}
		}
		st := append([]Stretch(nil), d.Online...)
		sort.Slice(st, func(i, j int) bool { return st[i].From < st[j].From })
		for _, s := range byTo[d.User] {
			a := s.End
			i := sort.Search(len(st), func(i int) bool { return st[i].From > a }) - 1
			if i < 0 || st[i].To <= a {
				res.NotOnline++
				continue
			}
			e, shifted := a, false
			for _, c := range cuts[st[i].Addr] {
				if c.To <= e {
					continue
				}
				if c.From >= e+bound {
					break
				}
				if c.To > e {
					e, shifted = c.To, true
				}
			}
			deadline := e + bound
			at, got := first[s.Body]
			if st[i].To < deadline && (!got || at > st[i].To) {
				res.NotOnline++
				continue
			}
			res.Checked++
			if shifted {
				res.Shifted++
			}
			if got {
				lat = append(lat, max(at-e, 0))
			}
			switch {
			case !got:
				res.Missing++
				add(Finding{"delivery_missing", d.ID, s.Body, fmt.Sprintf("acked at %v, online at %s until %v, never received", a, st[i].Addr, st[i].To)})
			case at > deadline:
				res.Late++
				add(Finding{"delivery_late", d.ID, s.Body, fmt.Sprintf("acked at %v, deadline %v (online at %s), received at %v (%v late)", a, deadline, st[i].Addr, at, at-deadline)})
			}
		}
	}
	res.P50ms, res.P90ms, res.P99ms, res.Maxms = pct(lat, 50), pct(lat, 90), pct(lat, 99), pct(lat, 100)
	return res
}
