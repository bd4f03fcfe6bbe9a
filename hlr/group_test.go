package hlr

import (
	"reflect"
	"strings"
	"testing"
)

func boolp(b bool) *bool { return &b }

func strp(s string) *string { return &s }

// fanout returns the single group fan-out effect of r.
func fanout(t *testing.T, r Result) GroupFanoutEffect {
	t.Helper()
	var out []GroupFanoutEffect
	for _, e := range r.Effects {
		if g, ok := e.(GroupFanoutEffect); ok {
			out = append(out, g)
		}
	}
	if len(out) != 1 {
		t.Fatalf("want one group fan-out, got %d in %+v", len(out), r)
	}
	return out[0]
}

func (r *fsmRig) group(c Cmd) Result {
	r.t.Helper()
	res := r.one(c)
	r.deliverOutbox()
	return res
}

func userGroups(t *testing.T, r *fsmRig, user string) []string {
	t.Helper()
	gs, err := r.view().UserGroups(user)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, g := range gs {
		s := g.Group
		if g.Invited {
			s += "(invited)"
		}
		out = append(out, s)
	}
	return out
}

func TestGroup_CreateInviteJoinSendRead(t *testing.T) {
	r := newRig(t, 1)
	r.register("alice", "bob", "carol")
	res := r.group(Cmd{Op: OpGroupCreate, Group: "team", User: "alice", Name: strp("The team")})
	if res.Status != StatusOK || res.Seq != 1 {
		t.Fatalf("create: %+v", res)
	}
	if f := fanout(t, res); f.Msg.Kind != EventCreated || !f.Members.Has("alice") || f.Members.Len() != 1 || f.Group != "g/team" {
		t.Fatalf("create fan-out: %+v", f)
	}
	if res := r.group(Cmd{Op: OpGroupCreate, Group: "team", User: "bob"}); res.Status != StatusExists {
		t.Fatalf("second create: %v", res.Status)
	}
	if res := r.group(Cmd{Op: OpGroupCreate, Group: "team", User: "alice"}); res.Status != StatusOK || !res.Dup || len(res.Effects) != 0 {
		t.Fatalf("retried create: %+v", res)
	}
	// Closed group: no join without an invite, and a non-member cannot invite.
	if res := r.group(Cmd{Op: OpGroupJoin, Group: "team", User: "bob"}); res.Status != StatusRefused {
		t.Fatalf("uninvited join: %v", res.Status)
	}
	if res := r.group(Cmd{Op: OpGroupInvite, Group: "team", User: "carol", Peer: "bob"}); res.Status != StatusRefused {
		t.Fatalf("invite by a non-member: %v", res.Status)
	}
	if res := r.group(Cmd{Op: OpGroupSend, Group: "team", User: "alice", Device: "a1", CMID: 1, Body: []byte("before bob"), TTLMS: 60_000}); res.Status != StatusOK || res.Seq != 2 {
		t.Fatalf("send: %+v", res)
	}
	if res := r.group(Cmd{Op: OpGroupInvite, Group: "team", User: "alice", Peer: "bob"}); res.Status != StatusOK {
		t.Fatalf("invite: %v", res.Status)
	}
	if got := userGroups(t, r, "bob"); !reflect.DeepEqual(got, []string{"team(invited)"}) {
		t.Fatalf("bob's index after the invite: %v", got)
	}
	join := r.group(Cmd{Op: OpGroupJoin, Group: "team", User: "bob"})
	if join.Status != StatusOK || join.Seq != 4 {
		t.Fatalf("join: %+v", join)
	}
	if f := fanout(t, join); f.Msg.Kind != EventJoined || f.Msg.From != "bob" || !f.Members.Has("bob") || !f.Members.Has("alice") {
		t.Fatalf("join fan-out: %+v", f)
	}
	// A retried join is answered as done, with nothing appended.
	if again := r.group(Cmd{Op: OpGroupJoin, Group: "team", User: "bob"}); again.Status != StatusOK || !again.Dup || again.Seq != 4 {
		t.Fatalf("retried join: %+v", again)
	}
	if got := userGroups(t, r, "bob"); !reflect.DeepEqual(got, []string{"team"}) {
		t.Fatalf("bob's index after joining: %v", got)
	}
	// Bob sees the stream from his join on, not alice's earlier message.
	in, err := r.view().GroupPage("team", "bob", 0, 100, 0, r.now)
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Messages) != 1 || in.Messages[0].Seq != 4 || in.Messages[0].Kind != EventJoined || in.ExpiredThrough != 3 {
		t.Fatalf("bob's first page: %+v", in)
	}
	all, _ := r.view().GroupPage("team", "alice", 0, 100, 0, r.now)
	if len(all.Messages) != 4 || string(all.Messages[1].Body) != "before bob" || all.Messages[2].Kind != EventInvited || all.Messages[2].Subject != "bob" {
		t.Fatalf("alice's page: %+v", all.Messages)
	}
	// A stranger reads nothing.
	if in, _ := r.view().GroupPage("team", "carol", 0, 100, 0, r.now); in != nil {
		t.Fatalf("carol read the group: %+v", in)
	}
}

func TestGroup_SendOnlyByMembers_RetryDeduplicated(t *testing.T) {
	r := newRig(t, 1)
	r.register("alice", "bob")
	r.group(Cmd{Op: OpGroupCreate, Group: "g1", User: "alice"})
	send := func(user string, cmid uint64) Result {
		return r.one(Cmd{Op: OpGroupSend, Group: "g1", User: user, Device: "d", CMID: cmid, Body: []byte("x"), TTLMS: 60_000})
	}
	if res := send("bob", 1); res.Status != StatusRefused || len(res.Effects) != 0 {
		t.Fatalf("non-member send: %+v", res)
	}
	first := send("alice", 7)
	if first.Status != StatusOK || len(first.Effects) != 1 {
		t.Fatalf("send: %+v", first)
	}
	again := send("alice", 7)
	if !again.Dup || again.Seq != first.Seq || again.MsgID != first.MsgID || len(again.Effects) != 0 {
		t.Fatalf("retry: %+v, first %+v", again, first)
	}
	// A different device with the same cmid is another message.
	other := r.one(Cmd{Op: OpGroupSend, Group: "g1", User: "alice", Device: "e", CMID: 7, Body: []byte("y"), TTLMS: 60_000})
	if other.Dup || other.Seq != first.Seq+1 {
		t.Fatalf("other device: %+v", other)
	}
	// The group's dedup does not touch alice's 1:1 inbox and vice versa.
	if h, _ := r.view().GroupHead("g1"); h != other.Seq {
		t.Fatalf("head %d", h)
	}
}

func TestGroup_KickedMemberGetsNothingMore(t *testing.T) {
	r := newRig(t, 1)
	r.register("alice", "bob", "carol")
	r.group(Cmd{Op: OpGroupCreate, Group: "g", User: "alice", Open: boolp(true)})
	r.group(Cmd{Op: OpGroupJoin, Group: "g", User: "bob"})
	r.group(Cmd{Op: OpGroupJoin, Group: "g", User: "carol"})
	r.group(Cmd{Op: OpGroupCursor, Group: "g", User: "bob", Device: "b1", Seq: 2})
	// Only the owner and admins kick, and a member cannot kick.
	if res := r.group(Cmd{Op: OpGroupKick, Group: "g", User: "carol", Peer: "bob"}); res.Status != StatusRefused {
		t.Fatalf("kick by a member: %v", res.Status)
	}
	kick := r.group(Cmd{Op: OpGroupKick, Group: "g", User: "alice", Peer: "bob"})
	if kick.Status != StatusOK {
		t.Fatalf("kick: %v", kick.Status)
	}
	// The kick event reaches bob (so his devices learn it), nothing after.
	if f := fanout(t, kick); f.Msg.Kind != EventKicked || f.Msg.Subject != "bob" || !f.Members.Has("bob") {
		t.Fatalf("kick fan-out: %+v", f)
	}
	next := r.one(Cmd{Op: OpGroupSend, Group: "g", User: "alice", Device: "a", CMID: 1, Body: []byte("after"), TTLMS: 60_000})
	if f := fanout(t, next); f.Members.Has("bob") || !f.Members.Has("carol") {
		t.Fatalf("fan-out after the kick: %v", f.Members.Users())
	}
	// The kicked member still reads its membership, through its kick and
	// no further (a device that missed the kick learns it), and nothing
	// when it asks from beyond it.
	in, _ := r.view().GroupPage("g", "bob", 0, 100, 0, r.now)
	if in == nil || len(in.Messages) == 0 || in.Messages[len(in.Messages)-1].Seq != kick.Seq ||
		in.Messages[len(in.Messages)-1].Kind != EventKicked || in.Head != kick.Seq || in.More {
		t.Fatalf("kicked member's page: %+v (kick at %d)", in, kick.Seq)
	}
	if in.Messages[0].Seq != 2 { // bob's joined entry
		t.Fatalf("kicked member's page starts at %d, want its join (2)", in.Messages[0].Seq)
	}
	if in, _ := r.view().GroupPage("g", "bob", kick.Seq, 100, 0, r.now); in == nil || len(in.Messages) != 0 || in.Head != kick.Seq {
		t.Fatalf("kicked member's page after its kick: %+v", in)
	}
	if in, _ := r.view().GroupPage("g", "dave", 0, 100, 0, r.now); in != nil {
		t.Fatalf("a stranger reads: %+v", in)
	}
	if res := r.one(Cmd{Op: OpGroupSend, Group: "g", User: "bob", Device: "b1", CMID: 9, Body: []byte("x"), TTLMS: 60_000}); res.Status != StatusRefused {
		t.Fatalf("kicked member sends: %v", res.Status)
	}
	if got := userGroups(t, r, "bob"); len(got) != 0 {
		t.Fatalf("bob's index still lists %v", got)
	}
	// A kicked member who joins again sees the stream from the new join only.
	rejoin := r.group(Cmd{Op: OpGroupJoin, Group: "g", User: "bob"})
	in, _ = r.view().GroupPage("g", "bob", 0, 100, 0, r.now)
	if len(in.Messages) != 1 || in.Messages[0].Seq != rejoin.Seq {
		t.Fatalf("after rejoining: %+v", in.Messages)
	}
	if c, _ := r.view().GroupCursor("g", "bob", "b1"); c != 0 {
		t.Fatalf("the old cursor survived the kick: %d", c)
	}
}

func TestGroup_RolesAndOwnership(t *testing.T) {
	r := newRig(t, 1)
	r.register("alice", "bob", "carol", "dave")
	r.group(Cmd{Op: OpGroupCreate, Group: "g", User: "alice", Open: boolp(true)})
	for _, u := range []string{"bob", "carol", "dave"} {
		r.group(Cmd{Op: OpGroupJoin, Group: "g", User: u})
	}
	if res := r.group(Cmd{Op: OpGroupRole, Group: "g", User: "bob", Peer: "carol", Reason: RoleAdmin}); res.Status != StatusRefused {
		t.Fatalf("a member promoted: %v", res.Status)
	}
	if res := r.group(Cmd{Op: OpGroupRole, Group: "g", User: "alice", Peer: "carol", Reason: "king"}); res.Status != StatusInvalid {
		t.Fatalf("bad role: %v", res.Status)
	}
	if res := r.group(Cmd{Op: OpGroupRole, Group: "g", User: "alice", Peer: "carol", Reason: RoleAdmin}); res.Status != StatusOK {
		t.Fatalf("promote: %v", res.Status)
	}
	// An admin kicks members but not the owner or other admins.
	r.group(Cmd{Op: OpGroupRole, Group: "g", User: "alice", Peer: "dave", Reason: RoleAdmin})
	if res := r.group(Cmd{Op: OpGroupKick, Group: "g", User: "carol", Peer: "dave"}); res.Status != StatusRefused {
		t.Fatalf("admin kicked admin: %v", res.Status)
	}
	if res := r.group(Cmd{Op: OpGroupKick, Group: "g", User: "carol", Peer: "alice"}); res.Status != StatusRefused {
		t.Fatalf("admin kicked owner: %v", res.Status)
	}
	if res := r.group(Cmd{Op: OpGroupSet, Group: "g", User: "carol", About: strp("topic")}); res.Status != StatusOK {
		t.Fatalf("admin set topic: %v", res.Status)
	}
	if res := r.group(Cmd{Op: OpGroupSet, Group: "g", User: "bob", About: strp("mine")}); res.Status != StatusRefused {
		t.Fatalf("member set topic: %v", res.Status)
	}
	// The owner leaves: the admin who joined first (carol) takes over.
	leave := r.group(Cmd{Op: OpGroupLeave, Group: "g", User: "alice"})
	if leave.Status != StatusOK || len(leave.Effects) != 2 {
		t.Fatalf("owner leave: %+v", leave)
	}
	gr, _ := r.view().Group("g")
	m, _ := r.view().Member("g", "carol")
	if gr.Owner != "carol" || m.Role != RoleOwner || gr.Members != 3 || gr.Topic != "topic" {
		t.Fatalf("after the owner left: %+v %+v", gr, m)
	}
	// Handing over ownership makes the old owner an admin.
	r.group(Cmd{Op: OpGroupRole, Group: "g", User: "carol", Peer: "bob", Reason: RoleOwner})
	gr, _ = r.view().Group("g")
	m, _ = r.view().Member("g", "carol")
	if gr.Owner != "bob" || m.Role != RoleAdmin {
		t.Fatalf("after the hand-over: %+v %+v", gr, m)
	}
}

func TestGroup_LastLeaveAndDeleteRemoveEverything(t *testing.T) {
	for _, how := range []string{"delete", "last-leave"} {
		t.Run(how, func(t *testing.T) {
			r := newRig(t, 1)
			r.register("alice", "bob")
			r.group(Cmd{Op: OpGroupCreate, Group: "g", User: "alice"})
			r.group(Cmd{Op: OpGroupInvite, Group: "g", User: "alice", Peer: "bob"})
			r.one(Cmd{Op: OpGroupSend, Group: "g", User: "alice", Device: "a", CMID: 1, Body: []byte("x"), TTLMS: 60_000})
			r.group(Cmd{Op: OpGroupCursor, Group: "g", User: "alice", Device: "a", Seq: 3})
			op := OpGroupDelete
			if how == "last-leave" {
				op = OpGroupLeave
			}
			res := r.group(Cmd{Op: op, Group: "g", User: "alice"})
			if res.Status != StatusOK {
				t.Fatalf("%s: %v", how, res.Status)
			}
			if f := fanout(t, res); f.Msg.Kind != EventDeleted || !f.Members.Has("alice") {
				t.Fatalf("deleted fan-out: %+v", f)
			}
			if got := userGroups(t, r, "alice"); len(got) != 0 {
				t.Fatalf("alice's index: %v", got)
			}
			if got := userGroups(t, r, "bob"); len(got) != 0 {
				t.Fatalf("bob's index keeps the invite: %v", got)
			}
			// Nothing of the group is left but its head, and the name is free.
			for k := range dump(t, r.db, 1) {
				sub := k[4:] // 'p' pid(2) 'f'
				if strings.Contains(sub, "g/g") && sub[0] != skHead {
					t.Errorf("key left after %s: %q", how, sub)
				}
			}
			v := r.view()
			if g, _ := v.Group("g"); g != nil {
				t.Fatal("group record left")
			}
			if ms, _ := v.Members("g"); len(ms) != 0 {
				t.Fatalf("members left: %v", ms)
			}
			again := r.group(Cmd{Op: OpGroupCreate, Group: "g", User: "bob"})
			if again.Status != StatusOK || again.Seq != 4 {
				t.Fatalf("re-create: %+v (the numbering must continue)", again)
			}
			if in, _ := r.view().GroupPage("g", "bob", 0, 100, 0, r.now); len(in.Messages) != 1 || in.Messages[0].From != "bob" {
				t.Fatalf("old entries visible in the new group: %+v", in.Messages)
			}
		})
	}
}

func TestGroup_IndexIgnoresOutOfOrderItems(t *testing.T) {
	r := newRig(t, 1)
	r.register("bob")
	// join (seq 5), leave (seq 6), join (seq 9), delivered late and twice.
	items := []Cmd{
		{Op: OpGroupLink, User: "bob", Peer: "g", Seq: 9},
		{Op: OpGroupUnlink, User: "bob", Peer: "g", Seq: 6},
		{Op: OpGroupLink, User: "bob", Peer: "g", Seq: 5},
		{Op: OpGroupLink, User: "bob", Peer: "g", Seq: 9},
	}
	for _, c := range items {
		if res := r.one(c); res.Status != StatusOK {
			t.Fatalf("%v: %v", c.Op, res.Status)
		}
	}
	if got := userGroups(t, r, "bob"); !reflect.DeepEqual(got, []string{"g"}) {
		t.Fatalf("index: %v", got)
	}
	r.one(Cmd{Op: OpGroupUnlink, User: "bob", Peer: "g", Seq: 12})
	r.one(Cmd{Op: OpGroupLink, User: "bob", Peer: "g", Seq: 11})
	if got := userGroups(t, r, "bob"); len(got) != 0 {
		t.Fatalf("index after a late link: %v", got)
	}
	// An invite declined at the same head: the unlink wins.
	r.one(Cmd{Op: OpGroupLink, User: "bob", Peer: "h", Seq: 3, Reason: "invited"})
	r.one(Cmd{Op: OpGroupUnlink, User: "bob", Peer: "h", Seq: 3})
	if got := userGroups(t, r, "bob"); len(got) != 0 {
		t.Fatalf("declined invite still listed: %v", got)
	}
}

func TestGroup_DeletedAccountLeavesItsGroups(t *testing.T) {
	r := newRig(t, 1)
	r.register("alice", "bob")
	r.group(Cmd{Op: OpGroupCreate, Group: "g", User: "alice", Open: boolp(true)})
	r.group(Cmd{Op: OpGroupJoin, Group: "g", User: "bob"})
	r.group(Cmd{Op: OpGroupCreate, Group: "h", User: "alice"})
	r.group(Cmd{Op: OpGroupInvite, Group: "h", User: "alice", Peer: "bob"})
	if res := r.group(Cmd{Op: OpDeleteAccount, User: "bob"}); res.Status != StatusOK {
		t.Fatalf("delete: %v", res.Status)
	}
	r.deliverOutbox()
	if m, _ := r.view().Member("g", "bob"); m != nil {
		t.Fatal("the deleted account is still a member")
	}
	if ms, _ := r.view().Members("g"); len(ms) != 1 {
		t.Fatalf("members: %v", ms)
	}
	gr, _ := r.view().Group("g")
	if gr.Members != 1 {
		t.Fatalf("count %d", gr.Members)
	}
	// A link that reaches a deleted account takes it out again.
	r.group(Cmd{Op: OpGroupInvite, Group: "g", User: "alice", Peer: "ghost"})
	r.group(Cmd{Op: OpGroupJoin, Group: "g", User: "ghost"})
	r.deliverOutbox()
	if m, _ := r.view().Member("g", "ghost"); m != nil {
		t.Fatal("a member without an account stayed")
	}
}

func TestGroup_MemberLimit(t *testing.T) {
	r := newRig(t, 1)
	r.register("alice", "u1", "u2", "u3")
	r.group(Cmd{Op: OpGroupCreate, Group: "g", User: "alice", Open: boolp(true), Limit: 3})
	for i, u := range []string{"u1", "u2"} {
		if res := r.group(Cmd{Op: OpGroupJoin, Group: "g", User: u, Limit: 3}); res.Status != StatusOK {
			t.Fatalf("join %d: %v", i, res.Status)
		}
	}
	if res := r.group(Cmd{Op: OpGroupJoin, Group: "g", User: "u3", Limit: 3}); res.Status != StatusFull {
		t.Fatalf("join beyond the limit: %v", res.Status)
	}
}

func TestGroup_ExpiryCollectsGroupMessages(t *testing.T) {
	r := newRig(t, 1)
	r.register("alice")
	r.group(Cmd{Op: OpGroupCreate, Group: "g", User: "alice"})
	r.one(Cmd{Op: OpGroupSend, Group: "g", User: "alice", Device: "a", CMID: 1, Body: []byte("x"), TTLMS: 1000})
	r.now += GroupEventTTLMS + 1
	if res := r.one(Cmd{Op: OpExpire}); res.Status != StatusOK {
		t.Fatalf("expire: %v", res.Status)
	}
	in, _ := r.view().GroupPage("g", "alice", 0, 100, 0, r.now)
	if len(in.Messages) != 0 || in.ExpiredThrough != 2 {
		t.Fatalf("after expiry: %+v", in)
	}
	// The cmid is free again once its message expired.
	if res := r.one(Cmd{Op: OpGroupSend, Group: "g", User: "alice", Device: "a", CMID: 1, Body: []byte("x"), TTLMS: 1000}); res.Dup {
		t.Fatal("dedup outlived the message")
	}
	// Group streams are not users: the 1:1 delivery repair never sees them.
	r.view().Heads(func(user string, _ uint64) bool {
		if IsGroupKey(user) {
			t.Fatalf("Heads listed %q", user)
		}
		return true
	})
}

func TestGroup_NamesWithNulRefused(t *testing.T) {
	r := newRig(t, 1)
	if res := r.one(Cmd{Op: OpGroupCreate, Group: "a\x00b", User: "alice"}); res.Status != StatusInvalid {
		t.Fatalf("nul in a group name: %v", res.Status)
	}
	if res := r.one(Cmd{Op: OpGroupCreate, User: "alice"}); res.Status != StatusInvalid {
		t.Fatalf("no group: %v", res.Status)
	}
}

func TestGroup_LeaveKickDeleteAreIdempotent(t *testing.T) {
	r := newRig(t, 1)
	r.register("alice", "bob", "carol")
	r.group(Cmd{Op: OpGroupCreate, Group: "g", User: "alice", Open: boolp(true)})
	r.group(Cmd{Op: OpGroupJoin, Group: "g", User: "bob"})
	r.group(Cmd{Op: OpGroupJoin, Group: "g", User: "carol"})
	for i := 0; i < 2; i++ {
		if res := r.group(Cmd{Op: OpGroupLeave, Group: "g", User: "bob"}); res.Status != StatusOK || (i == 1) != res.Dup {
			t.Fatalf("leave %d: %+v", i, res)
		}
		if res := r.group(Cmd{Op: OpGroupKick, Group: "g", User: "alice", Peer: "carol"}); res.Status != StatusOK || (i == 1) != res.Dup {
			t.Fatalf("kick %d: %+v", i, res)
		}
	}
	// A repeated kick must not append a second event.
	h, _ := r.view().GroupHead("g")
	if h != 5 { // created, joined, joined, left, kicked
		t.Fatalf("head %d", h)
	}
	for i := 0; i < 2; i++ {
		if res := r.group(Cmd{Op: OpGroupDelete, Group: "g", User: "alice"}); res.Status != StatusOK || (i == 1) != res.Dup {
			t.Fatalf("delete %d: %+v", i, res)
		}
	}
	// Still refused: a member who may not.
	r.group(Cmd{Op: OpGroupCreate, Group: "h", User: "alice", Open: boolp(true)})
	r.group(Cmd{Op: OpGroupJoin, Group: "h", User: "bob"})
	r.group(Cmd{Op: OpGroupJoin, Group: "h", User: "carol"})
	if res := r.group(Cmd{Op: OpGroupKick, Group: "h", User: "bob", Peer: "carol"}); res.Status != StatusRefused {
		t.Fatalf("kick by a member: %v", res.Status)
	}
	if res := r.group(Cmd{Op: OpGroupDelete, Group: "h", User: "bob"}); res.Status != StatusRefused {
		t.Fatalf("delete by a member: %v", res.Status)
	}
}

// TestGroup_RetryAfterLeavingGetsTheOriginalAck: a send applied, its
// reply lost, the sender leaves, the retry arrives: it gets the original
// ack (dup), not a refusal that would hide the committed message (found
// by the 10-minute sim: group_unexpected). A cmid never sent is refused.
func TestGroup_RetryAfterLeavingGetsTheOriginalAck(t *testing.T) {
	r := newRig(t, 1)
	r.register("alice", "bob")
	r.group(Cmd{Op: OpGroupCreate, Group: "g", User: "alice", Open: boolp(true)})
	r.group(Cmd{Op: OpGroupJoin, Group: "g", User: "bob"})
	send := func(cmid uint64) Result {
		return r.one(Cmd{Op: OpGroupSend, Group: "g", User: "bob", Device: "b1", CMID: cmid, Body: []byte("x"), TTLMS: 60_000})
	}
	first := send(7)
	r.group(Cmd{Op: OpGroupLeave, Group: "g", User: "bob"})
	retry := send(7)
	if retry.Status != StatusOK || !retry.Dup || retry.Seq != first.Seq || retry.MsgID != first.MsgID || len(retry.Effects) != 0 {
		t.Fatalf("retry after leaving: %+v, first %+v", retry, first)
	}
	if res := send(8); res.Status != StatusRefused {
		t.Fatalf("a new send after leaving: %v", res.Status)
	}
}
