package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/roamhq/roam/wire"
)

// startRoamdWith spawns a node whose JSON config file holds conf.
func startRoamdWith(t *testing.T, conf string) *proc {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "roamd.json")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return startRoamd(t, filepath.Join(dir, "data"), "-config", path)
}

// devCerts makes a CA and a node certificate for 127.0.0.1 and localhost
// with the daemon's own roamd cert subcommands, as scripts/run-cluster.sh
// does, and returns the directory holding ca.crt, node.crt and node.key.
func devCerts(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "certs")
	for _, args := range [][]string{
		{"cert", "create-ca", "--certs-dir", dir},
		{"cert", "create-node", "--certs-dir", dir, "--node-id", "local", "--host", "127.0.0.1,localhost"},
	} {
		if out, err := exec.Command(roamdBin, args...).CombinedOutput(); err != nil {
			t.Fatalf("roamd %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return dir
}

// cleanEnv is the test process's environment without ROAM_* variables,
// so a developer's exported settings do not leak into spawned commands.
func cleanEnv(extra ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ROAM_") {
			out = append(out, kv)
		}
	}
	return append(out, extra...)
}

// user is a logged-in raw connection.
type user struct {
	*raw
	name, device string
	ok           wire.LoginOK
}

// signup registers name (password "pw-"+name) on a fresh connection.
func signup(t *testing.T, addr, name string) {
	t.Helper()
	r, w := hello(t, addr)
	r.register(name, "pw-"+name, w.ScramIters)
	r.nc.Close()
}

// loginAs logs name in as device on a fresh connection.
func loginAs(t *testing.T, addr, name, device string) *user {
	t.Helper()
	r, _ := hello(t, addr)
	ok := r.login(name, "pw-"+name, device)
	return &user{raw: r, name: name, device: device, ok: ok}
}

// befriend makes a and b friends through a request and an acceptance, and
// waits until a has heard of the acceptance (the asker's side is written
// through the home register's outbox, after the accept returns).
func befriend(t *testing.T, a, b *user) {
	t.Helper()
	a.call(wire.TFriendRequest, &wire.Peer{User: b.name}, wire.TOK, nil)
	b.expectFriendEvent("request", a.name)
	b.call(wire.TFriendAccept, &wire.Peer{User: a.name}, wire.TOK, nil)
	a.expectFriendEvent("accepted", b.name)
	// A new friendship pushes each side the other's current presence.
	if st := a.nextPresence(b.name); st != "online" {
		t.Fatalf("%s sees new friend %s as %s", a.name, b.name, st)
	}
	if st := b.nextPresence(a.name); st != "online" {
		t.Fatalf("%s sees new friend %s as %s", b.name, a.name, st)
	}
}

// expectFriendEvent waits for a friend event push.
func (u *user) expectFriendEvent(event, who string) {
	u.t.Helper()
	var ev wire.FriendEvent
	if err := wire.Decode(u.nextPush(wire.TFriendEvent, 10*time.Second).Body, &ev); err != nil {
		u.t.Fatal(err)
	}
	if ev.Event != event || ev.User != who {
		u.t.Fatalf("%s: friend event %+v, want %s from %s", u.name, ev, event, who)
	}
}

// syncAll reads the inbox after the cursor until the last page; pushes
// flow after it.
func (u *user) syncAll(after uint64) []wire.Message {
	u.t.Helper()
	var out []wire.Message
	for {
		var rep wire.SyncReply
		u.call(wire.TSync, &wire.Sync{After: after}, wire.TSyncReply, &rep)
		out = append(out, rep.Messages...)
		if rep.Next == 0 {
			u.t.Fatalf("sync reply without next")
		}
		after = rep.Next - 1
		if !rep.More {
			return out
		}
	}
}

// nextPush returns the next push of type typ (kept aside earlier or read
// now), skipping other pushes. It fails the test after d.
func (u *user) nextPush(typ wire.Type, d time.Duration) wire.Frame {
	u.t.Helper()
	for i, f := range u.pushes {
		if f.Type == typ {
			u.pushes = append(u.pushes[:i], u.pushes[i+1:]...)
			return f
		}
	}
	deadline := time.Now().Add(d)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			u.t.Fatalf("%s: no %s push within %v", u.name, typ, d)
		}
		f, err := u.readErr(left)
		if err != nil {
			u.t.Fatalf("%s: waiting for %s: %v", u.name, typ, err)
		}
		if f.Type == typ && f.RID == 0 {
			return f
		}
		u.pushes = append(u.pushes, f)
	}
}

// nextMessage returns the next pushed inbox message.
func (u *user) nextMessage() wire.Message {
	u.t.Helper()
	var m wire.Message
	if err := wire.Decode(u.nextPush(wire.TMessage, 10*time.Second).Body, &m); err != nil {
		u.t.Fatal(err)
	}
	return m
}

// nextPresence returns the next presence push about who.
func (u *user) nextPresence(who string) string {
	u.t.Helper()
	for {
		var p wire.Presence
		if err := wire.Decode(u.nextPush(wire.TPresence, 10*time.Second).Body, &p); err != nil {
			u.t.Fatal(err)
		}
		if p.User == who {
			return p.Status
		}
	}
}

// noPush checks that no push of type typ arrives within d.
func (u *user) noPush(typ wire.Type, d time.Duration) {
	u.t.Helper()
	for _, f := range u.pushes {
		if f.Type == typ {
			u.t.Fatalf("%s: unexpected %s push", u.name, typ)
		}
	}
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		f, err := u.readErr(time.Until(deadline))
		if err != nil {
			return
		}
		if f.Type == typ {
			u.t.Fatalf("%s: unexpected %s push: %s", u.name, typ, describe(f))
		}
		u.pushes = append(u.pushes, f)
	}
}

// send sends body to whom with cmid and returns the ack.
func (u *user) sendMsg(to string, cmid uint64, body string) wire.SendAck {
	u.t.Helper()
	var ack wire.SendAck
	u.call(wire.TSend, &wire.Send{To: to, CMID: cmid, Body: []byte(body)}, wire.TSendAck, &ack)
	return ack
}
