package sim

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// The group history and its checker (PROTOCOL.md §16). The load that
// records it is in groups.go.

// GroupSend is one group message: one Client.GroupSend call with its
// retries (which reuse the cmid). Body is the message's key, unique per
// send, as Send.Body.
type GroupSend struct {
	Group      string
	Body       string
	From       string
	FromDevice string
	Session    string
	Start, End time.Duration
	Outcome    Outcome
	AckID      uint64 // Acked only
	AckSeq     uint64 // Acked only: position in the group's stream
	Err        string
	Size       int
}

// GroupEntry is one entry of a group's stream as a device received it
// (Device.Groups) or as the final read found it (GroupFinal.Entries).
// Body is a message's key (messages only); Corrupt says the bytes after
// the key were not the filler the sender wrote.
type GroupEntry struct {
	Group   string
	Seq     uint64
	ID      uint64
	Kind    string // "" for a message, else created, joined, left, kicked, invited, ...
	From    string
	Subject string
	Body    string
	At      time.Duration
	Corrupt bool
	// Sched marks a fired scheduled message (from device SchedDevice):
	// CheckGroups holds it to the stream's rules but leaves matching it
	// to CheckSchedules. SentMS is the message's server time (Unix ms).
	Sched  bool
	SentMS int64
}

// GroupStretch is a time in which a device followed group Group at one
// node: from the client's group_synced event until the device's online
// stretch ended (see Stretch) or its stream of the group did
// (group_gone).
type GroupStretch struct {
	Group    string
	From, To time.Duration
	Addr     string
}

// Membership operations (MemberOp.Op).
const (
	OpCreate = "create" // User (the owner) creates the group
	OpJoin   = "join"   // User joins (after an invite by the owner)
	OpLeave  = "leave"  // User leaves
	OpKick   = "kick"   // the owner removes User
)

// MemberOp is one membership change the load made: one intent, with the
// retries of an unknown outcome (join, leave and kick are idempotent).
// The simulator makes only changes it believes change the membership (a
// join of a non-member, a leave or kick of a member), one at a time per
// group and user. Seq is the stream entry that carried it, found by
// CheckGroups (0: none or unknown).
type MemberOp struct {
	Group      string
	User       string
	Op         string
	By         string // the device that made it
	Start, End time.Duration
	Outcome    Outcome
	Err        string
	Seq        uint64
}

// GroupFinal is the final read of one group: every entry of its stream,
// read from seq 1 by a fresh device of the group's owner, who never
// leaves. Read says the read completed.
type GroupFinal struct {
	Group   string
	Read    bool
	Entries []GroupEntry
}

// GroupResult is what CheckGroups found.
type GroupResult struct {
	Groups    int `json:"groups"`
	Sends     int `json:"sends"`
	Acked     int `json:"acked"`
	Unknown   int `json:"unknown"`
	Refused   int `json:"refused"`
	Recovered int `json:"recovered"` // unknown outcome, yet in the stream
	Entries   int `json:"entries"`   // entries of the final reads
	Delivered int `json:"delivered"` // entries received over all devices
	// Membership operations by kind and outcome ("join ok", "kick unknown").
	Ops map[string]int `json:"ops,omitempty"`
	// Violations.
	FinalUnread    int `json:"final_unread"`       // groups whose final read did not complete
	NotInFinal     int `json:"not_in_final"`       // acked sends missing from the final read, or there at another seq or id
	Lost           int `json:"lost"`               // acked messages missing on a device that followed the group at the end
	LostEntries    int `json:"lost_entries"`       // entries (messages and events) missing so
	Duplicated     int `json:"duplicated"`         // a seq twice on one device, or one send at two seqs of the stream
	Order          int `json:"order_violations"`   // a seq below one received before
	Gaps           int `json:"gaps"`               // a seq skipped within a membership, or a membership entered after its joined entry
	OutsideMember  int `json:"outside_membership"` // an entry received outside its user's membership (after its left or kicked entry)
	Mismatch       int `json:"mismatch"`           // an entry received that differs from the final read's at that seq
	Unexpected     int `json:"unexpected"`         // a message in the stream that no send made, or whose send was refused
	SeqConflicts   int `json:"seq_conflicts"`
	Realtime       int `json:"realtime_violations"`
	Corrupted      int `json:"corrupted"`
	MemberMismatch int `json:"membership_mismatch"` // an acknowledged change without its entry, or an entry no change explains
	// Delivery is bounded delivery of group messages to the devices that
	// followed the group (see CheckGroups).
	Delivery DeliveryResult `json:"bounded_delivery"`
	Findings []Finding      `json:"-"`
}

// Violations sums the violation counters (bounded delivery apart).
func (r *GroupResult) Violations() int {
	return r.FinalUnread + r.NotInFinal + r.Lost + r.LostEntries + r.Duplicated + r.Order + r.Gaps + r.OutsideMember +
		r.Mismatch + r.Unexpected + r.SeqConflicts + r.Realtime + r.Corrupted + r.MemberMismatch
}

// OK reports whether no group invariant was violated.
func (r *GroupResult) OK() bool { return r.Violations() == 0 && r.Delivery.Held() }

// membership is one stretch of a user's membership of a group, in seqs:
// from its created or joined entry to its left or kicked entry
// (inclusive; to is MaxUint64 while it lasts).
type membership struct{ from, to uint64 }

// memberships returns each user's memberships of a group from its
// stream, in seq order.
func memberships(entries []GroupEntry) map[string][]membership {
	out := map[string][]membership{}
	for _, e := range entries {
		u, start := membershipChange(e)
		if u == "" {
			continue
		}
		ms := out[u]
		open := len(ms) > 0 && ms[len(ms)-1].to == math.MaxUint64
		switch {
		case start && !open:
			out[u] = append(ms, membership{e.Seq, math.MaxUint64})
		case !start && open:
			ms[len(ms)-1].to = e.Seq
		}
	}
	return out
}

// membershipChange returns the user whose membership entry e starts
// (created, joined) or ends (left, kicked), "" for other entries.
func membershipChange(e GroupEntry) (user string, start bool) {
	switch e.Kind {
	case "created", "joined":
		return e.From, true
	case "left":
		return e.From, false
	case "kicked":
		return e.Subject, false
	}
	return "", false
}

// in returns the index of the membership holding seq, -1 if none.
func in(ms []membership, seq uint64) int {
	for i, m := range ms {
		if m.from <= seq && seq <= m.to {
			return i
		}
	}
	return -1
}

// CheckGroups verifies the group history. It is a pure function of h.
// The final reads are the truth every device is compared with; from
// them come each user's memberships (joined entry to left or kicked
// entry). Then:
//
//   - final_unread: a group whose final read did not complete;
//   - not_in_final: an acked send missing from its group's final read,
//     or found there at another seq or id than its ack said;
//   - unexpected: a message of a final read that no send made, or whose
//     send was refused or went to another group; recovered counts the
//     sends of unknown outcome found there; duplicated counts a send
//     found at two seqs (fired scheduled messages, GroupEntry.Sched, are
//     CheckSchedules' to match);
//   - seq_conflicts and realtime_violations: as Check, per group, from
//     the acks alone;
//   - per device record (revoked sessions' records apart) and group, in
//     the order received: duplicated (a seq received twice), order (a
//     seq below one received before), mismatch (an entry that is not the
//     final read's at its seq: kind, sender, subject, id, body),
//     corrupted, outside_membership (an entry at a seq outside every
//     membership of the device's user: nothing before its joined entry,
//     nothing after its left or kicked entry), gaps (within one
//     membership the seqs follow one another; a membership is entered at
//     its joined entry, as sync starts there);
//   - lost: on a device that followed its groups at the end
//     (Device.GroupsComplete), every entry of each membership its user
//     still has, from the joined entry to the last entry of the stream;
//     lost counts the acked messages missing, lost_entries every entry;
//   - membership_mismatch: the membership changes of each group and
//     user, in the order made, against the user's membership entries of
//     the final read: each acknowledged join, leave or kick has the next
//     entry, of its kind (its seq becomes the op's Seq), and no entry is
//     left over; after an op of unknown outcome the pair is not checked
//     further;
//   - bounded delivery: CheckDelivery's rule for every acked message
//     and every device record of a user who was a member at its seq,
//     with the device's group stretches of its group as the online
//     stretches (logged in, connected and synced for the group), the
//     clock stopped while the stretch's node was cut off.
func CheckGroups(h History, bound time.Duration) GroupResult {
	res := GroupResult{Ops: map[string]int{}}
	add := findingAdder(&res.Findings)
	final := map[string]*GroupFinal{}
	for i := range h.GroupFinals {
		f := &h.GroupFinals[i]
		final[f.Group] = f
		res.Groups++
		res.Entries += len(f.Entries)
		if !f.Read {
			res.FinalUnread++
			add(Finding{"group_final_unread", "", f.Group, "the final read of the group did not complete"})
		}
	}
	groups := make([]string, 0, len(final))
	for g := range final {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	// The final reads, by seq, and each group's memberships.
	at := map[string]map[uint64]*GroupEntry{}
	head := map[string]uint64{}
	members := map[string]map[string][]membership{}
	bodySeqs := map[string][]*GroupEntry{} // the messages by body, in group and stream order
	for _, g := range groups {
		f := final[g]
		m := make(map[uint64]*GroupEntry, len(f.Entries))
		for i := range f.Entries {
			e := &f.Entries[i]
			m[e.Seq] = e
			head[g] = max(head[g], e.Seq)
			if e.Kind == "" && !e.Sched {
				bodySeqs[e.Body] = append(bodySeqs[e.Body], e)
			}
		}
		at[g] = m
		members[g] = memberships(f.Entries)
	}

	// Sends against the final reads.
	byBody := make(map[string]*GroupSend, len(h.GroupSends))
	var acks []Send // as 1:1 sends to the group, for checkAcks
	for i := range h.GroupSends {
		s := &h.GroupSends[i]
		byBody[s.Body] = s
		res.Sends++
		switch s.Outcome {
		case Acked:
			res.Acked++
			acks = append(acks, Send{Body: s.Body, To: s.Group, Start: s.Start, End: s.End, Outcome: Acked, AckID: s.AckID, AckSeq: s.AckSeq})
		case Unknown:
			res.Unknown++
		case Refused:
			res.Refused++
		}
		f := final[s.Group]
		if f == nil || !f.Read {
			continue
		}
		es := bodySeqs[s.Body]
		switch {
		case s.Outcome == Acked && len(es) == 0:
			res.NotInFinal++
			add(Finding{"group_not_in_final", s.FromDevice, s.Body, fmt.Sprintf("acked in %s at seq %d (id %d) at %v, not in the final read", s.Group, s.AckSeq, s.AckID, s.End)})
		case s.Outcome == Acked && (es[0].Seq != s.AckSeq || es[0].ID != s.AckID || es[0].Group != s.Group):
			res.NotInFinal++
			add(Finding{"group_not_in_final", s.FromDevice, s.Body, fmt.Sprintf("acked in %s at seq %d (id %d), the final read has it in %s at seq %d (id %d)",
				s.Group, s.AckSeq, s.AckID, es[0].Group, es[0].Seq, es[0].ID)})
		case s.Outcome == Unknown && len(es) > 0:
			res.Recovered++
		}
	}
	for _, g := range groups {
		for i := range final[g].Entries {
			e := &final[g].Entries[i]
			if e.Kind != "" || e.Sched {
				continue // an event, or a fired scheduled message (CheckSchedules)
			}
			s := byBody[e.Body]
			if first := bodySeqs[e.Body][0]; first != e {
				res.Duplicated++
				add(Finding{"group_duplicated", "", e.Body, fmt.Sprintf("in %s at seq %d, and in %s at seq %d before", g, e.Seq, first.Group, first.Seq)})
				continue
			}
			if s == nil || s.Outcome == Refused || s.Group != g {
				res.Unexpected++
				why := "never sent"
				if s != nil && s.Outcome == Refused {
					why = "its send was refused: " + s.Err
				} else if s != nil {
					why = "sent to " + s.Group
				}
				add(Finding{"group_unexpected", "", e.Body, fmt.Sprintf("in %s at seq %d: %s", g, e.Seq, why)})
			}
		}
	}
	var ack Result
	ack.checkAcks(acks, func(f Finding) { f.Kind = "group_" + f.Kind; add(f) })
	res.SeqConflicts, res.Realtime = ack.SeqConflicts, ack.RealtimeViolations

	// What the revoked sessions of each device received, by device id and
	// group: a revoked session's group acks move the device's cursor (until
	// its lease runs out it still gets the group's pushes), and a session
	// of the device that lists its groups after that starts past them, so
	// the device's own record may skip entries one of its revoked sessions
	// got (the 10-minute sim: a device logged in elsewhere while its node
	// was cut off with a majority of the group's replicas; the old session
	// got and acked 6 entries, the new one started after them). A repeat
	// there is not counted: the new session may also list its groups
	// before those acks land.
	revoked := map[string]map[string]map[uint64]bool{}
	for _, d := range h.Devices {
		if !d.Revoked {
			continue
		}
		id, _, _ := strings.Cut(d.ID, "~")
		if revoked[id] == nil {
			revoked[id] = map[string]map[uint64]bool{}
		}
		for _, m := range d.Groups {
			if revoked[id][m.Group] == nil {
				revoked[id][m.Group] = map[uint64]bool{}
			}
			revoked[id][m.Group][m.Seq] = true
		}
	}
	// Every device's streams.
	for _, d := range h.Devices {
		res.Delivered += len(d.Groups)
		if d.Revoked {
			continue
		}
		byGroup := map[string][]GroupEntry{}
		for _, m := range d.Groups {
			byGroup[m.Group] = append(byGroup[m.Group], m)
		}
		for _, g := range groups {
			res.checkStream(d, g, byGroup[g], revoked[d.ID][g], at[g], members[g][d.User], head[g], final[g].Read, add)
		}
	}

	res.matchOps(h.MemberOps, final, add)
	res.Delivery = checkGroupDelivery(h, members, bound)
	for i := range res.Delivery.Findings {
		res.Delivery.Findings[i].Kind = "group_" + res.Delivery.Findings[i].Kind
	}
	sort.SliceStable(res.Findings, func(i, j int) bool { return res.Findings[i].Kind < res.Findings[j].Kind })
	return res
}

// checkStream checks what device d received of group g (got, in the
// order received; elsewhere, the seqs its revoked sessions received)
// against the final read (at, by seq; head its last seq), with ms the
// memberships of d's user.
func (res *GroupResult) checkStream(d Device, g string, got []GroupEntry, elsewhere map[uint64]bool, at map[uint64]*GroupEntry, ms []membership, head uint64, read bool, add func(Finding)) {
	seen := map[uint64]bool{}
	// gotElsewhere: every seq of [from, to) reached a revoked session of d.
	gotElsewhere := func(from, to uint64) bool {
		for q := from; q < to; q++ {
			if !elsewhere[q] {
				return false
			}
		}
		return from < to
	}
	var prev uint64
	prevIn := -1
	for _, m := range got {
		if m.Corrupt {
			res.Corrupted++
			add(Finding{"group_corrupted", d.ID, m.Body, fmt.Sprintf("%s seq %d: the body is not what was sent", g, m.Seq)})
		}
		if seen[m.Seq] {
			res.Duplicated++
			add(Finding{"group_duplicated", d.ID, m.Body, fmt.Sprintf("%s seq %d received again", g, m.Seq)})
			continue
		}
		seen[m.Seq] = true
		if m.Seq < prev {
			res.Order++
			add(Finding{"group_order", d.ID, m.Body, fmt.Sprintf("%s seq %d after %d", g, m.Seq, prev)})
			continue
		}
		if !read {
			prev = m.Seq
			continue
		}
		if f := at[m.Seq]; f == nil || f.Kind != m.Kind || f.From != m.From || f.Subject != m.Subject || f.ID != m.ID || f.Body != m.Body {
			res.Mismatch++
			want := "nothing (the stream ends at " + fmt.Sprint(head) + ")"
			if f != nil {
				want = describeEntry(*f)
			}
			add(Finding{"group_mismatch", d.ID, m.Body, fmt.Sprintf("%s seq %d: received %s, the final read has %s", g, m.Seq, describeEntry(m), want)})
		}
		i := in(ms, m.Seq)
		switch {
		case i < 0:
			res.OutsideMember++
			add(Finding{"group_outside_membership", d.ID, m.Body, fmt.Sprintf("%s seq %d (%s) received; %s's memberships %s", g, m.Seq, describeEntry(m), d.User, describeMemberships(ms))})
		case i != prevIn && m.Seq != ms[i].from && !gotElsewhere(ms[i].from, m.Seq):
			res.Gaps++
			add(Finding{"group_gap", d.ID, m.Body, fmt.Sprintf("%s: membership from seq %d entered at seq %d (after %d)", g, ms[i].from, m.Seq, prev)})
		case i == prevIn && m.Seq != prev+1 && !gotElsewhere(prev+1, m.Seq):
			res.Gaps++
			add(Finding{"group_gap", d.ID, m.Body, fmt.Sprintf("%s seq %d after %d (seqs %d-%d of the membership skipped)", g, m.Seq, prev, prev+1, m.Seq-1)})
		}
		prev, prevIn = m.Seq, i
	}
	if !d.GroupsComplete || !read || len(ms) == 0 || ms[len(ms)-1].to != math.MaxUint64 {
		return
	}
	last := ms[len(ms)-1]
	for seq := last.from; seq <= head; seq++ {
		if seen[seq] {
			continue
		}
		res.LostEntries++
		e := at[seq]
		if e == nil {
			continue // a seq the final read does not have either (expired)
		}
		if e.Kind == "" {
			res.Lost++
		}
		add(Finding{"group_lost", d.ID, e.Body, fmt.Sprintf("%s seq %d (%s) never received; a member since seq %d, following the group at the end", g, seq, describeEntry(*e), last.from)})
	}
}

func describeEntry(e GroupEntry) string {
	if e.Kind == "" {
		return fmt.Sprintf("message %s from %s (id %d)", e.Body, e.From, e.ID)
	}
	if e.Subject != "" {
		return fmt.Sprintf("%s %s by %s (id %d)", e.Kind, e.Subject, e.From, e.ID)
	}
	return fmt.Sprintf("%s by %s (id %d)", e.Kind, e.From, e.ID)
}

func describeMemberships(ms []membership) string {
	if len(ms) == 0 {
		return "none"
	}
	s := ""
	for i, m := range ms {
		if i > 0 {
			s += ", "
		}
		if m.to == math.MaxUint64 {
			s += fmt.Sprintf("%d-", m.from)
		} else {
			s += fmt.Sprintf("%d-%d", m.from, m.to)
		}
	}
	return s
}

// matchOps matches the membership changes with the final reads'
// membership entries (see CheckGroups) and sets each matched op's Seq.
func (res *GroupResult) matchOps(ops []MemberOp, final map[string]*GroupFinal, add func(Finding)) {
	type pair struct{ g, u string }
	byPair := map[pair][]int{}
	for i := range ops {
		op := &ops[i]
		res.Ops[op.Op+" "+okName(op.Outcome)]++
		byPair[pair{op.Group, op.User}] = append(byPair[pair{op.Group, op.User}], i)
	}
	entries := map[pair][]GroupEntry{}
	for g, f := range final {
		if !f.Read {
			continue
		}
		for _, e := range f.Entries {
			if u, _ := membershipChange(e); u != "" {
				entries[pair{g, u}] = append(entries[pair{g, u}], e)
			}
		}
	}
	pairs := make([]pair, 0, len(byPair)+len(entries))
	for p := range byPair {
		pairs = append(pairs, p)
	}
	for p := range entries {
		if byPair[p] == nil {
			pairs = append(pairs, p)
		}
	}
	sort.Slice(pairs, func(i, j int) bool {
		return pairs[i].g < pairs[j].g || pairs[i].g == pairs[j].g && pairs[i].u < pairs[j].u
	})
	want := map[string]string{OpCreate: "created", OpJoin: "joined", OpLeave: "left", OpKick: "kicked"}
	for _, p := range pairs {
		if f := final[p.g]; f == nil || !f.Read {
			continue
		}
		idx := byPair[p]
		sort.SliceStable(idx, func(i, j int) bool { return ops[idx[i]].Start < ops[idx[j]].Start })
		es := entries[p]
		next, unsure := 0, false
		for _, i := range idx {
			op := &ops[i]
			if op.Outcome == Unknown {
				unsure = true
				break
			}
			if op.Outcome != Acked {
				continue
			}
			if next >= len(es) || es[next].Kind != want[op.Op] {
				res.MemberMismatch++
				got := "no entry"
				if next < len(es) {
					got = fmt.Sprintf("the next is %s at seq %d", es[next].Kind, es[next].Seq)
				}
				add(Finding{"group_membership", op.By, "", fmt.Sprintf("%s %s of %s (%v-%v) acknowledged; among %s's entries of the stream %s", p.g, op.Op, p.u, op.Start, op.End, p.u, got)})
				unsure = true // the rest would only repeat it
				break
			}
			op.Seq = es[next].Seq
			next++
		}
		if !unsure && next < len(es) {
			res.MemberMismatch += len(es) - next
			add(Finding{"group_membership", "", "", fmt.Sprintf("%s: %s's %s entry at seq %d explained by no membership change", p.g, p.u, es[next].Kind, es[next].Seq)})
		}
	}
}

func okName(o Outcome) string {
	if o == Acked {
		return "ok"
	}
	return o.String()
}

// checkGroupDelivery runs CheckDelivery over the group messages: each
// (device record, group) becomes a record of its own whose online
// stretches are the device's group stretches of the group, and each
// acked message a send to every user who was a member at its seq.
func checkGroupDelivery(h History, members map[string]map[string][]membership, bound time.Duration) DeliveryResult {
	key := func(user, group string) string { return user + " in " + group }
	var syn History
	syn.Cutoffs = h.Cutoffs
	for _, s := range h.GroupSends {
		if s.Outcome != Acked {
			continue
		}
		for u, ms := range members[s.Group] {
			if in(ms, s.AckSeq) >= 0 {
				syn.Sends = append(syn.Sends, Send{Body: s.Body, To: key(u, s.Group), End: s.End, Outcome: Acked, AckSeq: s.AckSeq})
			}
		}
	}
	sort.SliceStable(syn.Sends, func(i, j int) bool { return syn.Sends[i].End < syn.Sends[j].End })
	for _, d := range h.Devices {
		if d.Revoked || len(d.GroupOnline) == 0 {
			continue
		}
		recs := map[string]*Device{}
		var order []string
		for _, st := range d.GroupOnline {
			r := recs[st.Group]
			if r == nil {
				r = &Device{ID: d.ID + "/" + st.Group, User: key(d.User, st.Group)}
				recs[st.Group] = r
				order = append(order, st.Group)
			}
			r.Online = append(r.Online, Stretch{From: st.From, To: st.To, Addr: st.Addr})
		}
		for _, m := range d.Groups {
			if r := recs[m.Group]; r != nil && m.Kind == "" {
				r.Delivered = append(r.Delivered, Delivery{Seq: m.Seq, ID: m.ID, From: m.From, Body: m.Body, At: m.At})
			}
		}
		for _, g := range order {
			syn.Devices = append(syn.Devices, *recs[g])
		}
	}
	return CheckDelivery(syn, bound)
}
