package e2e

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/roamhq/roam/wire"
)

// TestChat_FriendsExchangeMessages: two users become friends and chat; each
// message is pushed once, in order, after the sender's ack.
func TestChat_FriendsExchangeMessages(t *testing.T) {
	p := startRoamd(t, t.TempDir())
	signup(t, p.client, "alice")
	signup(t, p.client, "bob")
	a := loginAs(t, p.client, "alice", "phone")
	b := loginAs(t, p.client, "bob", "phone")
	befriend(t, a, b)
	var fl wire.Friends
	a.call(wire.TFriendList, &wire.Empty{}, wire.TFriends, &fl)
	if len(fl.Friends) != 1 || fl.Friends[0].User != "bob" || fl.Friends[0].Status != "online" {
		t.Fatalf("alice's friends: %+v", fl)
	}
	a.syncAll(0)
	b.syncAll(0)
	for i := 1; i <= 3; i++ {
		ack := a.sendMsg("bob", uint64(i), fmt.Sprintf("hi %d", i))
		if ack.Seq != uint64(i) || ack.Dup || ack.ID == 0 {
			t.Fatalf("ack %d: %+v", i, ack)
		}
		m := b.nextMessage()
		if m.Seq != uint64(i) || m.From != "alice" || m.FromDevice != "phone" || string(m.Body) != fmt.Sprintf("hi %d", i) || m.ID != ack.ID {
			t.Fatalf("bob got %+v for ack %+v", m, ack)
		}
		b.send(wire.TAck, &wire.Ack{Seq: m.Seq})
	}
	ack := b.sendMsg("alice", 1, "hello back")
	if m := a.nextMessage(); m.Seq != ack.Seq || string(m.Body) != "hello back" {
		t.Fatalf("alice got %+v", m)
	}
	b.noPush(wire.TMessage, 300*time.Millisecond)
}

// TestStrangerRefused: a stranger's message and a message to a user that
// does not exist get the same refusal; friend requests to a user that
// blocked you and to no one get the same answer (an ok, as for any request
// left unanswered: PROTOCOL.md §7).
func TestStrangerRefused(t *testing.T) {
	p := startRoamd(t, t.TempDir())
	signup(t, p.client, "alice")
	signup(t, p.client, "mallory")
	m := loginAs(t, p.client, "mallory", "d")
	a := loginAs(t, p.client, "alice", "d")

	toStranger := m.callErr(wire.TSend, &wire.Send{To: "alice", CMID: 1, Body: []byte("psst")}, wire.CodeRefused)
	toNobody := m.callErr(wire.TSend, &wire.Send{To: "nosuchuser", CMID: 2, Body: []byte("psst")}, wire.CodeRefused)
	if toStranger != toNobody {
		t.Fatalf("refusals differ: %+v vs %+v (reveals whether an account exists)", toStranger, toNobody)
	}
	a.call(wire.TBlock, &wire.Peer{User: "mallory"}, wire.TOK, nil)
	blocked := m.reply(m.send(wire.TFriendRequest, &wire.Peer{User: "alice"}))
	nobody := m.reply(m.send(wire.TFriendRequest, &wire.Peer{User: "nosuchuser"}))
	if blocked.Type != wire.TOK || blocked.Type != nobody.Type || string(blocked.Body) != string(nobody.Body) {
		t.Fatalf("friend-request answers differ: %s %x vs %s %x", blocked.Type, blocked.Body, nobody.Type, nobody.Body)
	}
	a.noPush(wire.TFriendEvent, 300*time.Millisecond)
	// The blocker must unblock before asking.
	a.callErr(wire.TFriendRequest, &wire.Peer{User: "mallory"}, wire.CodeRefused)
}

// TestPresence_ChangesReachFriend: a friend sees online, away, invisible
// (as offline) and the logout.
func TestPresence_ChangesReachFriend(t *testing.T) {
	p := startRoamd(t, t.TempDir())
	signup(t, p.client, "alice")
	signup(t, p.client, "bob")
	a := loginAs(t, p.client, "alice", "d")
	b := loginAs(t, p.client, "bob", "d")
	befriend(t, a, b)
	b.nc.Close() // bob goes offline: alice sees it
	if st := a.nextPresence("bob"); st != "offline" {
		t.Fatalf("after bob left: %s", st)
	}
	b = loginAs(t, p.client, "bob", "d")
	if st := a.nextPresence("bob"); st != "online" {
		t.Fatalf("after bob logged in: %s", st)
	}
	b.call(wire.TSetPresence, &wire.SetPresence{Status: "away"}, wire.TOK, nil)
	if st := a.nextPresence("bob"); st != "away" {
		t.Fatalf("after away: %s", st)
	}
	b.call(wire.TSetPresence, &wire.SetPresence{Status: "invisible"}, wire.TOK, nil)
	if st := a.nextPresence("bob"); st != "offline" {
		t.Fatalf("invisible shows as %s", st)
	}
	var fl wire.Friends
	a.call(wire.TFriendList, &wire.Empty{}, wire.TFriends, &fl)
	if fl.Friends[0].Status != "offline" {
		t.Fatalf("invisible bob listed as %s", fl.Friends[0].Status)
	}
	b.callErr(wire.TSetPresence, &wire.SetPresence{Status: "offline"}, wire.CodeBadStatus)
	b.call(wire.TSetPresence, &wire.SetPresence{Status: "busy"}, wire.TOK, nil)
	if st := a.nextPresence("bob"); st != "busy" {
		t.Fatalf("after busy: %s", st)
	}
}

// TestOffline_CatchUpInOrderExactlyOnce: messages sent while the recipient
// is offline arrive in order at the next login, each once, and the cursor
// keeps them from coming again.
func TestOffline_CatchUpInOrderExactlyOnce(t *testing.T) {
	p := startRoamdWith(t, `{"send_burst": 100}`)
	signup(t, p.client, "alice")
	signup(t, p.client, "bob")
	a := loginAs(t, p.client, "alice", "d")
	b := loginAs(t, p.client, "bob", "d")
	befriend(t, a, b)
	b.call(wire.TLogout, &wire.Empty{}, wire.TOK, nil)
	const n = 25
	for i := 1; i <= n; i++ {
		a.sendMsg("bob", uint64(i), fmt.Sprintf("m%d", i))
	}
	b = loginAs(t, p.client, "bob", "d")
	got := b.syncAll(b.ok.Cursor)
	if len(got) != n {
		t.Fatalf("bob synced %d messages, want %d", len(got), n)
	}
	for i, m := range got {
		if m.Seq != uint64(i+1) || string(m.Body) != fmt.Sprintf("m%d", i+1) {
			t.Fatalf("message %d: %+v", i, m)
		}
	}
	b.send(wire.TAck, &wire.Ack{Seq: got[len(got)-1].Seq})
	b.call(wire.TLogout, &wire.Empty{}, wire.TOK, nil) // flushes the cursor
	b = loginAs(t, p.client, "bob", "d")
	if b.ok.Cursor != n {
		t.Fatalf("cursor after ack and logout: %d, want %d", b.ok.Cursor, n)
	}
	if again := b.syncAll(b.ok.Cursor); len(again) != 0 {
		t.Fatalf("%d messages delivered again after the cursor", len(again))
	}
	// New messages are pushed after the sync.
	a.sendMsg("bob", n+1, "live")
	if m := b.nextMessage(); m.Seq != n+1 {
		t.Fatalf("live message: %+v", m)
	}
}

// TestSend_RetryDeliveredOnce: a retry after the ack, and retries racing
// each other, all get the original id and the recipient gets one message.
func TestSend_RetryDeliveredOnce(t *testing.T) {
	p := startRoamd(t, t.TempDir())
	signup(t, p.client, "alice")
	signup(t, p.client, "bob")
	a := loginAs(t, p.client, "alice", "d")
	b := loginAs(t, p.client, "bob", "d")
	befriend(t, a, b)
	b.syncAll(0)

	first := a.sendMsg("bob", 77, "once")
	again := a.sendMsg("bob", 77, "once")
	if !again.Dup || again.ID != first.ID || again.Seq != first.Seq {
		t.Fatalf("retry after ack: %+v, first %+v", again, first)
	}
	// Concurrent retries: pipelined on one connection without waiting.
	r1 := a.send(wire.TSend, &wire.Send{To: "bob", CMID: 78, Body: []byte("twice")})
	r2 := a.send(wire.TSend, &wire.Send{To: "bob", CMID: 78, Body: []byte("twice")})
	var k1, k2 wire.SendAck
	wire.Decode(a.reply(r1).Body, &k1)
	wire.Decode(a.reply(r2).Body, &k2)
	if k1.ID != k2.ID || k1.Dup == k2.Dup {
		t.Fatalf("concurrent retries: %+v %+v", k1, k2)
	}
	// And from a second connection of the same device, after a resume.
	a2, _ := hello(t, p.client)
	var res wire.LoginOK
	a2.call(wire.TResume, &wire.Resume{User: "alice", Device: "d", Token: a.ok.Token}, wire.TLoginOK, &res)
	var k3 wire.SendAck
	a2.call(wire.TSend, &wire.Send{To: "bob", CMID: 78, Body: []byte("twice")}, wire.TSendAck, &k3)
	if k3.ID != k1.ID || !k3.Dup {
		t.Fatalf("retry on a new connection: %+v", k3)
	}
	if m := b.nextMessage(); string(m.Body) != "once" {
		t.Fatalf("first push %+v", m)
	}
	if m := b.nextMessage(); string(m.Body) != "twice" {
		t.Fatalf("second push %+v", m)
	}
	b.noPush(wire.TMessage, 500*time.Millisecond)
	if all := b.syncAll(0); len(all) != 2 {
		t.Fatalf("inbox holds %d messages, want 2", len(all))
	}
}

// TestTwoDevices_BothGetEveryMessage: each device of a user has its own
// session and gets every message.
func TestTwoDevices_BothGetEveryMessage(t *testing.T) {
	p := startRoamd(t, t.TempDir())
	signup(t, p.client, "alice")
	signup(t, p.client, "bob")
	a := loginAs(t, p.client, "alice", "d")
	phone := loginAs(t, p.client, "bob", "phone")
	befriend(t, a, phone)
	laptop := loginAs(t, p.client, "bob", "laptop")
	phone.syncAll(0)
	laptop.syncAll(0)
	for i := 1; i <= 3; i++ {
		a.sendMsg("bob", uint64(i), fmt.Sprint(i))
	}
	for _, dev := range []*user{phone, laptop} {
		for i := 1; i <= 3; i++ {
			if m := dev.nextMessage(); m.Seq != uint64(i) {
				t.Fatalf("%s got seq %d, want %d", dev.device, m.Seq, i)
			}
		}
	}
	// The cursors are per device.
	phone.send(wire.TAck, &wire.Ack{Seq: 3})
	phone.call(wire.TLogout, &wire.Empty{}, wire.TOK, nil)
	laptop.call(wire.TLogout, &wire.Empty{}, wire.TOK, nil)
	if c := loginAs(t, p.client, "bob", "phone").ok.Cursor; c != 3 {
		t.Fatalf("phone cursor %d", c)
	}
	if c := loginAs(t, p.client, "bob", "laptop").ok.Cursor; c != 0 {
		t.Fatalf("laptop cursor %d (it acked nothing)", c)
	}
}

// TestHeartbeatTimeout_LogsOutAndFriendsSeeOffline: a silent client is
// logged out after three missed intervals and its friends see it go.
func TestHeartbeatTimeout_LogsOutAndFriendsSeeOffline(t *testing.T) {
	p := startRoamdWith(t, `{"heartbeat": "200ms", "heartbeat_misses": 3}`)
	signup(t, p.client, "alice")
	signup(t, p.client, "bob")
	a := loginAs(t, p.client, "alice", "d")
	b := loginAs(t, p.client, "bob", "d")
	if b.ok.HeartbeatMS != 200 {
		t.Fatalf("announced heartbeat %d ms", b.ok.HeartbeatMS)
	}
	// Keep alice alive while bob stays silent.
	stop := make(chan struct{})
	defer close(stop)
	var mu sync.Mutex
	befriend(t, a, b)
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				mu.Lock()
				b, _ := wire.AppendFrame(nil, wire.TPing, 1<<30, &wire.Empty{})
				a.nc.Write(b)
				mu.Unlock()
			}
		}
	}()
	if code := b.expectClosed(); code != wire.CodeHeartbeatTimeout {
		t.Fatalf("silent bob ended with %s", code.Name())
	}
	if st := a.nextPresence("bob"); st != "offline" {
		t.Fatalf("alice sees bob %s", st)
	}
}

// TestLimits: an oversized body, a bad TTL, a send flood and an expired
// message each get their own answer.
func TestLimits(t *testing.T) {
	p := startRoamd(t, t.TempDir())
	signup(t, p.client, "alice")
	signup(t, p.client, "bob")
	a := loginAs(t, p.client, "alice", "d")
	b := loginAs(t, p.client, "bob", "d")
	befriend(t, a, b)

	big := make([]byte, 1441)
	a.callErr(wire.TSend, &wire.Send{To: "bob", CMID: 1, Body: big}, wire.CodeTooLarge)
	a.callErr(wire.TSend, &wire.Send{To: "bob", CMID: 2, Body: []byte("x"), TTLMS: 100}, wire.CodeBadTTL)
	a.callErr(wire.TSend, &wire.Send{To: "bob", CMID: 3, Body: []byte("x"), TTLMS: 2 * 24 * 3600 * 1000}, wire.CodeBadTTL)

	// TTL: a message that lives one second is gone for a later sync.
	b.call(wire.TLogout, &wire.Empty{}, wire.TOK, nil)
	var ack wire.SendAck
	a.call(wire.TSend, &wire.Send{To: "bob", CMID: 4, Body: []byte("short-lived"), TTLMS: 1000}, wire.TSendAck, &ack)
	time.Sleep(1500 * time.Millisecond) // let the message's one-second lifetime pass: the point of this test
	b = loginAs(t, p.client, "bob", "d")
	var rep wire.SyncReply
	b.call(wire.TSync, &wire.Sync{After: 0}, wire.TSyncReply, &rep)
	if len(rep.Messages) != 0 || rep.Next <= ack.Seq {
		t.Fatalf("expired message still synced: %+v (ack %+v)", rep, ack)
	}

	// Flood: the bucket allows a burst of 10, then refuses with retry_after.
	var limited *wire.Error
	for i := 0; i < 15 && limited == nil; i++ {
		f := a.reply(a.send(wire.TSend, &wire.Send{To: "bob", CMID: uint64(100 + i), Body: []byte("flood")}))
		if errCode(t, f) == wire.CodeRateLimited {
			var e wire.Error
			wire.Decode(f.Body, &e)
			limited = &e
		}
	}
	if limited == nil || limited.RetryAfterMS == 0 {
		t.Fatalf("15 sends in a burst were not limited: %+v", limited)
	}
}

// TestKillNine_MidConversationLosesNothing: roamd is killed with SIGKILL
// while messages stream; every acknowledged message is in the recipient's
// inbox after the restart, once and in order.
func TestKillNine_MidConversationLosesNothing(t *testing.T) {
	p := startRoamdWith(t, `{"send_rate": 100000, "send_burst": 100000}`)
	signup(t, p.client, "alice")
	signup(t, p.client, "bob")
	a := loginAs(t, p.client, "alice", "d")
	b := loginAs(t, p.client, "bob", "d")
	befriend(t, a, b)
	b.call(wire.TLogout, &wire.Empty{}, wire.TOK, nil)

	// Several senders pipeline sends until the node dies.
	type sent struct{ seq, id uint64 }
	var mu sync.Mutex
	acked := map[string]sent{}
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		conn := loginAs(t, p.client, "alice", fmt.Sprintf("dev%d", w))
		wg.Add(1)
		go func(w int, c *user) {
			defer wg.Done()
			for i := 1; ; i++ {
				body := fmt.Sprintf("w%d-%d", w, i)
				c.rid++
				fr, _ := wire.AppendFrame(nil, wire.TSend, c.rid, &wire.Send{To: "bob", CMID: uint64(i), Body: []byte(body)})
				if _, err := c.nc.Write(fr); err != nil {
					return
				}
				f, err := c.readErr(10 * time.Second)
				if err != nil {
					return
				}
				var ack wire.SendAck
				if f.Type != wire.TSendAck || wire.Decode(f.Body, &ack) != nil {
					return
				}
				mu.Lock()
				acked[body] = sent{ack.Seq, ack.ID}
				mu.Unlock()
			}
		}(w, conn)
	}
	// Kill once a good number of sends were acknowledged.
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 200 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.kill()
	wg.Wait()
	p.restart()

	b = loginAs(t, p.client, "bob", "d")
	got := b.syncAll(0)
	seen := map[string]bool{}
	for i, m := range got {
		if m.Seq != uint64(i+1) {
			t.Fatalf("gap or disorder: position %d has seq %d", i, m.Seq)
		}
		if seen[string(m.Body)] {
			t.Fatalf("duplicate %q", m.Body)
		}
		seen[string(m.Body)] = true
	}
	for body, s := range acked {
		if !seen[body] {
			t.Fatalf("acknowledged message %q (seq %d) lost after kill -9", body, s.seq)
		}
	}
	t.Logf("%d acknowledged before kill -9, %d in the inbox after restart", len(acked), len(got))
}
