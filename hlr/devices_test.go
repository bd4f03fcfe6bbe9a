package hlr

import (
	"fmt"
	"reflect"
	"testing"
)

// deviceList returns user's devices, attached or not.
func (r *fsmRig) deviceList(user string) []Location {
	r.t.Helper()
	v := r.view()
	var ds deviceSet
	if _, err := v.st.getRec(devicesKey(user), &ds); err != nil {
		r.t.Fatal(err)
	}
	var out []Location
	for _, d := range ds.Devices {
		out = append(out, d.location())
	}
	return out
}

// sessionCount returns how many sessions user has.
func (r *fsmRig) sessionCount(user string) int {
	r.t.Helper()
	n := 0
	v := r.view()
	if err := v.st.scan(skUserPrefix(skSession, user), func(_, _ []byte) (bool, error) { n++; return true, nil }); err != nil {
		r.t.Fatal(err)
	}
	return n
}

func loginCmd(user, device, node, token string, limit int) Cmd {
	return Cmd{Op: OpLogin, User: user, Device: device, Node: node, Token: []byte(token), TTLMS: 3_600_000, CredGen: 1, Limit: limit}
}

// TestDevices_ManyLoginsKeepAtMostMaxDevices: 50,000 logins of one user
// from fresh device ids (half of them logged out again) leave at most
// DefaultMaxDevices location records and sessions; the evicted devices'
// cursors and sessions are gone, the indexes stay exact, and a device
// that logs in again replaces its old session token.
func TestDevices_ManyLoginsKeepAtMostMaxDevices(t *testing.T) {
	r := newRig(t, 1)
	r.register("ann", "bob")
	r.befriend("ann", "bob")
	r.one(Cmd{Op: OpSend, User: "bob", Peer: "ann", Device: "d", CMID: 1, Body: []byte("x"), TTLMS: 3_600_000})
	// The first device reads a message and stores its cursor.
	if res := r.one(loginCmd("bob", "first", "n1", "tok-first", 0)); res.Status != StatusOK {
		t.Fatalf("login: %+v", res)
	}
	r.one(Cmd{Op: OpCursor, User: "bob", Device: "first", Seq: 1})
	if c, _ := r.view().Cursor("bob", "first"); c != 1 {
		t.Fatalf("cursor of the first device: %d", c)
	}
	const logins, chunk = 50_000, 10
	for d := 0; d < logins; d += chunk {
		var cmds []Cmd
		for i := d; i < d+chunk; i++ {
			dev := fmt.Sprintf("dev-%d", i)
			cmds = append(cmds, loginCmd("bob", dev, "n1", "tok-"+dev, 0))
		}
		var purges []Cmd
		for i, res := range r.do(cmds...) {
			if res.Status != StatusOK {
				t.Fatalf("login %s: %+v", cmds[i].Device, res)
			}
			if i%2 == 0 {
				purges = append(purges, Cmd{Op: OpPurge, User: "bob", Device: cmds[i].Device, Epoch: res.Epoch})
			}
		}
		for i, res := range r.do(purges...) {
			if res.Status != StatusOK {
				t.Fatalf("purge %s: %+v", purges[i].Device, res)
			}
		}
	}
	if n := len(r.deviceList("bob")); n > DefaultMaxDevices {
		t.Fatalf("%d location records after %d logins, bound %d", n, logins, DefaultMaxDevices)
	}
	if n := r.sessionCount("bob"); n > DefaultMaxDevices {
		t.Fatalf("%d sessions after %d logins, bound %d", n, logins, DefaultMaxDevices)
	}
	attached, _ := r.view().Locations("bob")
	if len(attached) == 0 || len(attached) > DefaultMaxDevices {
		t.Fatalf("%d attached devices", len(attached))
	}
	v := r.view()
	if c, _ := v.Cursor("bob", "first"); c != 0 {
		t.Fatalf("the evicted device's cursor survived: %d", c)
	}
	if s, _ := v.Session("bob", []byte("tok-first")); s != nil {
		t.Fatal("the evicted device's session survived")
	}
	if s, _ := v.Session("bob", []byte("tok-dev-1")); s != nil {
		t.Fatal("an early device's session survived")
	}
	if res := r.one(Cmd{Op: OpResume, User: "bob", Device: "first", Node: "n1", Token: []byte("tok-first"), NewToken: []byte("x"), TTLMS: 1000}); res.Status != StatusNotFound {
		t.Fatalf("the evicted device's token still resumes: %+v", res)
	}
	checkInvariants(t, r.db, 1, DefaultMaxDevices)

	// The newest device logs in again: its old token goes.
	last := fmt.Sprintf("dev-%d", logins-1)
	if res := r.one(loginCmd("bob", last, "n2", "tok-again", 0)); res.Status != StatusOK {
		t.Fatalf("login again: %+v", res)
	}
	v = r.view()
	if s, _ := v.Session("bob", []byte("tok-"+last)); s != nil {
		t.Fatal("logging in again kept the device's old session")
	}
	if s, _ := v.Session("bob", []byte("tok-again")); s == nil || s.Device != last {
		t.Fatalf("the new session: %+v", s)
	}
	checkInvariants(t, r.db, 1, DefaultMaxDevices)
}

// TestDevices_EvictsOldestDetachedThenOldestAttached: with a bound of 3, a
// new device evicts the detached device that attached longest ago, even
// when an attached one is older; when every device is attached, the
// oldest attached one is evicted and returned for Cancel Location.
func TestDevices_EvictsOldestDetachedThenOldestAttached(t *testing.T) {
	r := newRig(t, 1)
	r.register("bob")
	login := func(dev, node string) Result {
		r.t.Helper()
		r.now += 1000
		res := r.one(loginCmd("bob", dev, node, "tok-"+dev, 3))
		if res.Status != StatusOK {
			t.Fatalf("login %s: %+v", dev, res)
		}
		return res
	}
	login("d1", "n1")
	d2 := login("d2", "n1")
	login("d3", "n2")
	r.one(Cmd{Op: OpPurge, User: "bob", Device: "d2", Epoch: d2.Epoch})
	if res := login("d4", "n1"); len(res.Effects) != 0 {
		t.Fatalf("evicting a detached device cancelled %+v", res.Effects)
	}
	devices := func() []string {
		var out []string
		for _, l := range r.deviceList("bob") {
			out = append(out, l.Device)
		}
		return out
	}
	if got := devices(); !reflect.DeepEqual(got, []string{"d1", "d3", "d4"}) {
		t.Fatalf("after d4: %v, want d2 (detached) evicted", got)
	}
	res := login("d5", "n3")
	if want := []Location{{Device: "d1", Node: "n1", Epoch: 1}}; !reflect.DeepEqual(cancelled(t, res, "session_replaced"), want) {
		t.Fatalf("Cancel %+v, want %+v (the oldest attached device)", res.Effects, want)
	}
	if got := devices(); !reflect.DeepEqual(got, []string{"d3", "d4", "d5"}) {
		t.Fatalf("after d5: %v", got)
	}
	// A login of a known device evicts nothing.
	if res := login("d3", "n1"); len(cancelled(t, res, "session_replaced")) != 1 || cancelLocs(res)[0].Device != "d3" {
		t.Fatalf("relogin of d3: %+v", res)
	}
	if got := devices(); !reflect.DeepEqual(got, []string{"d3", "d4", "d5"}) {
		t.Fatalf("after the relogin of d3: %v", got)
	}
	checkInvariants(t, r.db, 1, 3)
}

// TestDevices_EvictedDeviceComesBackWithANewerEpoch: epochs of a device
// never repeat, even across its eviction (a stale purge or session with
// the old epoch must not match the new attachment).
func TestDevices_EvictedDeviceComesBackWithANewerEpoch(t *testing.T) {
	r := newRig(t, 1)
	r.register("bob")
	var first Result
	for i := 0; i < 3; i++ {
		first = r.one(loginCmd("bob", "phone", "n1", fmt.Sprint("p", i), 2))
	}
	if first.Epoch != 3 {
		t.Fatalf("epoch %d", first.Epoch)
	}
	r.now += 10
	r.one(loginCmd("bob", "tab", "n1", "t", 2))
	r.now += 10
	r.one(loginCmd("bob", "laptop", "n1", "l", 2)) // evicts the phone
	for _, l := range r.deviceList("bob") {
		if l.Device == "phone" {
			t.Fatal("the phone was not evicted")
		}
	}
	r.now += 10
	back := r.one(loginCmd("bob", "phone", "n2", "p9", 2))
	if back.Epoch <= first.Epoch {
		t.Fatalf("the phone came back at epoch %d, had %d", back.Epoch, first.Epoch)
	}
	if res := r.one(Cmd{Op: OpPurge, User: "bob", Device: "phone", Epoch: first.Epoch}); res.Status != StatusStale {
		t.Fatalf("a purge with the old epoch detached the new attachment: %+v", res)
	}
}

// TestSend_ReadsOnlyAttachedLocations: the locations a send returns come
// from the attached index, which purge, password change and deletion keep
// exact.
func TestSend_ReadsOnlyAttachedLocations(t *testing.T) {
	r := newRig(t, 1)
	r.register("ann", "bob")
	r.befriend("ann", "bob")
	r.one(loginCmd("bob", "a", "n1", "ta", 0))
	b := r.one(loginCmd("bob", "b", "n2", "tb", 0))
	r.one(loginCmd("bob", "c", "n3", "tc", 0))
	r.one(Cmd{Op: OpPurge, User: "bob", Device: "b", Epoch: b.Epoch})
	send := func(cmid uint64) []Location {
		res := r.one(Cmd{Op: OpSend, User: "bob", Peer: "ann", Device: "d", CMID: cmid, Body: []byte("x"), TTLMS: 60_000})
		if res.Status != StatusOK {
			t.Fatalf("send: %+v", res)
		}
		d := delivery(res)
		if d == nil {
			return nil
		}
		if d.User != "bob" || d.Msg == nil || d.Msg.Seq != res.Seq {
			t.Fatalf("deliver effect %+v for %+v", d, res)
		}
		return d.Locs
	}
	if got, want := send(1), []Location{{Device: "a", Node: "n1", Epoch: 1}, {Device: "c", Node: "n3", Epoch: 1}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("send went to %+v, want %+v", got, want)
	}
	r.one(Cmd{Op: OpSetCreds, User: "bob", Device: "c", Token: []byte("tc"), Creds: creds(5)})
	if got, want := send(2), []Location{{Device: "c", Node: "n3", Epoch: 1}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after the password change the send went to %+v, want %+v", got, want)
	}
	checkInvariants(t, r.db, 1, 0)
}
