package sim

import (
	"fmt"
	"sort"
	"time"
)

// DefaultRevocationBound is the bounded-revocation promise (DESIGN §4.8):
// a revoked session can neither send nor receive 5 s after the
// revocation, even when every Cancel Location is lost.
const DefaultRevocationBound = 5 * time.Second

// RevocationResult is what CheckRevocation found.
type RevocationResult struct {
	BoundMs float64 `json:"bound_ms"`
	// Revoked counts the sessions the simulator revoked, by cause
	// (login_elsewhere, password_changed, account_deleted).
	Revoked int            `json:"revoked"`
	ByCause map[string]int `json:"by_cause,omitempty"`
	// EndedInTime: the client reported the session's end within the
	// bound; EndedLate: after it; NeverEnded: not while it was watched.
	EndedInTime int `json:"ended_in_time"`
	EndedLate   int `json:"ended_late"`
	NeverEnded  int `json:"never_ended"`
	// Violating counts the sessions with activity after the bound: sends
	// acknowledged (AckedAfter) or messages received (ReceivedAfter).
	Violating     int `json:"violating"`
	AckedAfter    int `json:"acked_after"`
	ReceivedAfter int `json:"received_after"`
	// AttemptsAfter counts the sends a revoked session started after the
	// bound (they must all fail).
	AttemptsAfter int       `json:"attempts_after"`
	Findings      []Finding `json:"-"`
}

// CheckRevocation checks bounded revocation. It is a pure function of h:
// for every Session with RevokedAt set, let L = RevokedAt + bound; the
// session must have no send acknowledged after L (by ack time: an ack
// after L shows the session was still served then) and its revoked record
// (Session.Record) no delivery after L, of its inbox or of a group.
func CheckRevocation(h History, bound time.Duration) RevocationResult {
	res := RevocationResult{BoundMs: float64(bound.Microseconds()) / 1000, ByCause: map[string]int{}}
	add := findingAdder(&res.Findings)
	recs := map[string]*Device{}
	for i := range h.Devices {
		recs[h.Devices[i].ID] = &h.Devices[i]
	}
	sends := map[string][]*Send{}
	for i := range h.Sends {
		if s := &h.Sends[i]; s.Session != "" {
			sends[s.Session] = append(sends[s.Session], s)
		}
	}
	for _, ss := range h.Sessions {
		if ss.RevokedAt == 0 {
			continue
		}
		res.Revoked++
		res.ByCause[ss.RevokedBy]++
		limit := ss.RevokedAt + bound
		switch {
		case len(ss.Ends) == 0:
			res.NeverEnded++
		case ss.Ends[0].At <= limit:
			res.EndedInTime++
		default:
			res.EndedLate++
		}
		bad := false
		for _, s := range sends[ss.Key] {
			if s.Start > limit {
				res.AttemptsAfter++
			}
			if s.Outcome == Acked && s.End > limit {
				res.AckedAfter++
				bad = true
				add(Finding{"revoked_send", ss.Device, s.Body, fmt.Sprintf("session %s revoked (%s) at %v, send acked at %v (seq %d)", ss.Key, ss.RevokedBy, ss.RevokedAt, s.End, s.AckSeq)})
			}
		}
		if d := recs[ss.Record]; d != nil {
			for _, m := range d.Delivered {
				if m.At > limit {
					res.ReceivedAfter++
					bad = true
					add(Finding{"revoked_receive", ss.Device, m.Body, fmt.Sprintf("session %s revoked (%s) at %v, received seq %d at %v", ss.Key, ss.RevokedBy, ss.RevokedAt, m.Seq, m.At)})
				}
			}
			for _, m := range d.Groups {
				if m.At > limit {
					res.ReceivedAfter++
					bad = true
					add(Finding{"revoked_receive", ss.Device, m.Body, fmt.Sprintf("session %s revoked (%s) at %v, received %s seq %d at %v", ss.Key, ss.RevokedBy, ss.RevokedAt, m.Group, m.Seq, m.At)})
				}
			}
		}
		if bad {
			res.Violating++
		}
	}
	return res
}

// SessionEndResult counts how sessions ended, from the client's events.
type SessionEndResult struct {
	// ByCode counts every session-ended event by wire code name.
	ByCode map[string]int `json:"by_code,omitempty"`
	// Invalid counts session_invalid ends of sessions whose token the
	// simulator never revoked (before that end): a resume refused
	// although the session was never ended on purpose. Must be 0.
	Invalid int `json:"invalid_unrevoked"`
	// Unexplained counts the other ends of unrevoked sessions (codes
	// other than session_invalid), for the report.
	Unexplained int       `json:"unexplained"`
	Findings    []Finding `json:"-"`
	// Others lists the unexplained ends (not violations).
	Others []Finding `json:"-"`
}

// CheckSessionEnds checks that no session that was never revoked ended
// with session_invalid. An end counts as explained when the session was
// revoked and the end came after the revoking call began (RevokeFrom):
// the end may reach the revoked client before the call returns; or when
// it came after a call of unknown outcome that may have ended the
// session began (MayEndFrom). It is a pure function of h.
func CheckSessionEnds(h History) SessionEndResult {
	res := SessionEndResult{ByCode: map[string]int{}}
	add := findingAdder(&res.Findings)
	for _, ss := range h.Sessions {
		for _, e := range ss.Ends {
			code := e.Code
			if code == "" {
				code = "local"
			}
			res.ByCode[code]++
			if ss.RevokedAt != 0 && ss.RevokeFrom <= e.At {
				continue // ended after the revoking call began
			}
			if ss.MayEndFrom != 0 && ss.MayEndFrom <= e.At {
				continue // after a call that may have ended it
			}
			if e.Code == "session_invalid" {
				res.Invalid++
				add(Finding{"session_invalid", ss.Device, "", fmt.Sprintf("session %s (user %s, since %v) ended at %v: %s", ss.Key, ss.User, ss.Start, e.At, e.Detail)})
			} else {
				res.Unexplained++
				res.Others = append(res.Others, Finding{"session_end", ss.Device, "", fmt.Sprintf("session %s (user %s, since %v) ended at %v: %s", ss.Key, ss.User, ss.Start, e.At, e.Detail)})
			}
		}
	}
	sort.SliceStable(res.Findings, func(i, j int) bool { return res.Findings[i].Device < res.Findings[j].Device })
	return res
}
