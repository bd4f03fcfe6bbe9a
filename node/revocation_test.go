package node_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/roamhq/roam/node"
	"github.com/roamhq/roam/node/clustertest"
	"github.com/roamhq/roam/wire"
)

// Bounded revocation (DESIGN §4.8): with every Cancel Location lost, a
// revoked session can neither send nor receive after a bounded time.

// revocationBound is what the tests allow: the 5 s of the contract plus a
// margin for a loaded 2-core machine. The time actually taken is logged.
const revocationBound = 10 * time.Second

// TestRevocation_LostCancelStillRevokes: the old session's node discards
// every Cancel Location. After a password change, the account's deletion,
// or the same device logging in elsewhere, the old session's sends are
// refused and its connection ends with the right goodbye, and a friend's
// presence change made afterwards never reaches it.
func TestRevocation_LostCancelStillRevokes(t *testing.T) {
	cases := []struct {
		name   string
		revoke func(t *testing.T, c *clustertest.Cluster, at int)
		want   wire.Code
	}{
		{"password changed", func(t *testing.T, c *clustertest.Cluster, at int) {
			laptop := dial(t, c, (at+1)%3, "laptop")
			if err := laptop.Login(ctx30(), "vic", "pw-vic"); err != nil {
				t.Fatal(err)
			}
			if err := laptop.ChangePassword(ctx30(), "pw-vic", "new-pw"); err != nil {
				t.Fatal(err)
			}
		}, wire.CodePasswordChanged},
		{"account deleted", func(t *testing.T, c *clustertest.Cluster, at int) {
			laptop := dial(t, c, (at+1)%3, "laptop")
			if err := laptop.Login(ctx30(), "vic", "pw-vic"); err != nil {
				t.Fatal(err)
			}
			if err := laptop.DeleteAccount(ctx30(), "pw-vic"); err != nil {
				t.Fatal(err)
			}
		}, wire.CodeAccountDeleted},
		{"same device logged in elsewhere", func(t *testing.T, c *clustertest.Cluster, at int) {
			rawLogin(t, c.ClientAddr((at+1)%3), "vic", "phone", 0)
		}, wire.CodeSessionReplaced},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			faults := newOneWayFaults()
			c := faultyCluster(t, faults, nil)
			_, at := awayFromLeader(t, c, "vic")
			pal := account(t, c, (at+2)%3, "pal")
			vic := account(t, c, at, "vic")
			befriend(t, pal, vic)
			if err := vic.Logout(ctx30()); err != nil {
				t.Fatal(err)
			}
			old := rawLogin(t, c.ClientAddr(at), "vic", "phone", 0)
			if f := old.send("pal", 1, "before"); f.Type != wire.TSendAck {
				t.Fatalf("send before the revocation: %s", describe(f))
			}
			for i := 0; i < 3; i++ {
				faults.set(i, "cancel", 1)
			}

			tc.revoke(t, c, at)
			revoked := time.Now()
			// The old session keeps trying to send until its connection
			// ends; none of its sends may succeed after the bound.
			var lastOK time.Time
			for cmid := uint64(2); !old.ended(); cmid++ {
				if time.Since(revoked) > revocationBound {
					t.Fatalf("the revoked session is still connected %v after the revocation", time.Since(revoked).Round(time.Millisecond))
				}
				if f := old.send("pal", cmid, fmt.Sprintf("after-%d", cmid)); f.Type == wire.TSendAck {
					lastOK = time.Now()
				}
				time.Sleep(100 * time.Millisecond)
			}
			t.Logf("the revoked session ended %v after the revocation (goodbye %s)", time.Since(revoked).Round(time.Millisecond), old.goodbye().Name())
			if !lastOK.IsZero() {
				t.Logf("its last accepted send was %v after the revocation", lastOK.Sub(revoked).Round(time.Millisecond))
			}
			if got := old.goodbye(); got != tc.want {
				t.Fatalf("goodbye %s, want %s", got.Name(), tc.want.Name())
			}
			if st := c.Node(at).GateStats(); st.Discarded == 0 {
				t.Log("no Cancel Location was discarded at the old node (it may have been sent nowhere)")
			}
			// Nothing new reaches it: a friend's presence change.
			if err := pal.SetPresence(ctx30(), "busy"); err != nil {
				t.Fatal(err)
			}
			time.Sleep(500 * time.Millisecond)
			for _, p := range old.presence() {
				if p == "pal=busy" {
					t.Fatal("the revoked session received a presence change made after the revocation")
				}
			}
		})
	}
}

// TestRevocation_CancelBeforeAttach: two logins of one device race on two
// nodes, so that the home register often cancels the first between its
// commit and its attach (the Cancel Location arrives before the session
// exists). Leases are made long here, so only the attach-time checks can
// end the loser soon: in every round, within the bound, exactly one
// session is left — the later login's.
func TestRevocation_CancelBeforeAttach(t *testing.T) {
	faults := newOneWayFaults()
	c := faultyCluster(t, faults, func(cfg *node.Config) { cfg.VLR.Lease.TTL = 10 * time.Minute })
	vic := account(t, c, 0, "vic")
	if err := vic.Logout(ctx30()); err != nil {
		t.Fatal(err)
	}
	// A leadership change can make a login's commit ambiguous (retried,
	// its Cancel Location never sent); that is the lease's case, not this
	// test's. Start once leadership has settled, and skip a round whose
	// epochs show a retried commit.
	x := (stableLeader(t, c, "vic") + 1) % 3
	y := (x + 1) % 3
	const rounds = 12
	refusedAtAttach, skipped := 0, 0
	for round := 0; round < rounds; round++ {
		device := fmt.Sprintf("phone-%d", round)
		var wg sync.WaitGroup
		res := make([]raceLogin, 2)
		start := make(chan struct{})
		for i, at := range []int{x, y} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res[i] = racingLogin(t, c.ClientAddr(at), "vic", device, start)
			}()
		}
		close(start)
		wg.Wait()
		if res[0].s != nil && res[1].s != nil && absDiff(res[0].ok.Epoch, res[1].ok.Epoch) != 1 {
			t.Logf("round %d: epochs %d and %d: a commit was retried; skipped", round, res[0].ok.Epoch, res[1].ok.Epoch)
			skipped++
			continue
		}
		for _, r := range res {
			if r.code == wire.CodeSessionReplaced {
				refusedAtAttach++
			}
		}
		alive := func() []int {
			var out []int
			for i, r := range res {
				if r.s != nil && !r.s.ended() {
					out = append(out, i)
				}
			}
			return out
		}
		deadline := time.Now().Add(revocationBound)
		for len(alive()) > 1 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		live := alive()
		if len(live) != 1 {
			t.Fatalf("round %d: %d sessions of device %s alive (logins: %+v, %+v)", round, len(live), device, res[0].ok, res[1].ok)
		}
		if w := res[live[0]]; w.ok.Epoch < res[1-live[0]].ok.Epoch {
			t.Fatalf("round %d: the earlier login (epoch %d) survived the later one (epoch %d)", round, w.ok.Epoch, res[1-live[0]].ok.Epoch)
		}
	}
	t.Logf("%d rounds (%d skipped); %d losing logins refused at attach (the Cancel, or the leader's newer records, came first), the others cancelled after", rounds, skipped, refusedAtAttach)
	if skipped > rounds/2 {
		t.Fatalf("%d of %d rounds skipped", skipped, rounds)
	}
}

func absDiff(a, b uint64) uint64 {
	if a > b {
		return a - b
	}
	return b - a
}

// raceLogin is the outcome of one racing login.
type raceLogin struct {
	s    *rawSession // nil if the login was refused
	ok   wire.LoginOK
	code wire.Code // the refusal's code
}

// racingLogin runs the SCRAM exchange for device at addr, then waits for
// start before the final step, so that two of them commit together.
func racingLogin(t *testing.T, addr, user, device string, start <-chan struct{}) raceLogin {
	r, final := rawLoginUpTo(t, addr, user, device)
	<-start
	f := r.callQuiet(wire.TLoginFinish, &wire.LoginFinish{ClientFinal: final})
	if f.Type != wire.TLoginOK {
		return raceLogin{code: errCode(f)}
	}
	var ok wire.LoginOK
	wire.Decode(f.Body, &ok)
	return raceLogin{s: r, ok: ok}
}
