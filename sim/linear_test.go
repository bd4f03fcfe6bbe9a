package sim

import (
	"testing"
	"time"
)

// op builds an account operation on user "a" from start to end (ms).
func op(client int, kind, arg, out string, start, end int) AccountOp {
	return AccountOp{Client: client, User: "a", Kind: kind, Arg: arg, Out: out,
		Start: time.Duration(start) * time.Millisecond, End: time.Duration(end) * time.Millisecond}
}

// clean is a linearizable history: a register race, logins, a password
// change, a profile write and reads, with concurrency.
func clean() []AccountOp {
	return []AccountOp{
		op(0, OpRegister, "p0", "ok", 0, 10),
		op(1, OpRegister, "p1", "taken", 2, 12),
		op(2, OpLogin, "p1", "denied", 20, 30),
		op(0, OpLogin, "p0", "ok", 20, 30),
		op(0, OpChangePW, "p2", "ok", 40, 50),
		op(1, OpLogin, "p0", "ok", 45, 55), // concurrent with the change: either order
		op(2, OpLogin, "p2", "ok", 60, 70),
		op(2, OpSetProfile, "Ann", "ok", 80, 90),
	}
}

func TestCheckAccountsAcceptsALinearizableHistory(t *testing.T) {
	h := clean()
	h = append(h,
		op(1, OpGetProfile, "", "", 70, 84),    // before the write: empty
		op(0, OpGetProfile, "", "Ann", 85, 95), // concurrent with it: either
		op(1, OpGetProfile, "", "Ann", 100, 110),
	)
	if r := CheckAccounts(h, 10*time.Second); r.Linearizable != "ok" {
		t.Fatalf("clean history judged %q", r.Linearizable)
	}
}

func TestCheckAccountsCatchesViolations(t *testing.T) {
	base := clean()
	cases := map[string][]AccountOp{
		"two registrations both ok": {
			op(0, OpRegister, "p0", "ok", 0, 10),
			op(1, OpRegister, "p1", "ok", 20, 30),
		},
		"taken before anyone registered": {
			op(1, OpRegister, "p1", "taken", 0, 10),
			op(0, OpRegister, "p0", "ok", 20, 30),
		},
		"old password works after the change was acknowledged": append(append([]AccountOp(nil), base...),
			op(1, OpLogin, "p0", "ok", 100, 110)),
		"new password refused after the change was acknowledged": append(append([]AccountOp(nil), base...),
			op(1, OpLogin, "p2", "denied", 100, 110)),
		"stale profile read after the write was acknowledged": append(append([]AccountOp(nil), base...),
			op(1, OpGetProfile, "", "", 100, 110)),
		"unknown change seen, then unseen": {
			op(0, OpRegister, "p0", "ok", 0, 10),
			op(0, OpChangePW, "p1", "", 20, 30),
			op(1, OpLogin, "p1", "ok", 40, 50),
			op(2, OpLogin, "p0", "ok", 60, 70),
		},
	}
	for name, h := range cases {
		if r := CheckAccounts(h, 10*time.Second); r.Linearizable != "illegal" {
			t.Errorf("%s: judged %q, want illegal", name, r.Linearizable)
		}
	}
}

func TestCheckAccountsUnknownOutcomeMayGoEitherWay(t *testing.T) {
	for _, pw := range []string{"p0", "p1"} {
		h := []AccountOp{
			op(0, OpRegister, "p0", "ok", 0, 10),
			op(0, OpChangePW, "p1", "", 20, 30),
			op(1, OpLogin, pw, "ok", 40, 50),
		}
		if r := CheckAccounts(h, 10*time.Second); r.Linearizable != "ok" || r.Unknown != 1 {
			t.Errorf("login with %s after an unknown change: %q (unknown %d), want ok", pw, r.Linearizable, r.Unknown)
		}
	}
}
