package sim

import "testing"

func TestReportOKCoversAccountsAndPresence(t *testing.T) {
	rep := &Report{Accounts: AccountResult{Linearizable: "ok"}, Presence: PresenceResult{Views: 4, Converged: 4}}
	if !rep.OK() {
		t.Fatal("a clean report is not OK")
	}
	rep.Accounts.Linearizable = "undecided"
	if !rep.OK() {
		t.Fatal("an account check that ran out of time fails the run")
	}
	rep.Accounts.Linearizable = "illegal"
	if rep.OK() {
		t.Fatal("a non-linearizable account history passes")
	}
	rep.Accounts.Linearizable = "ok"
	rep.Presence.Unconverged = 1
	if rep.OK() {
		t.Fatal("unconverged presence passes")
	}
	rep.Presence.Unconverged = 0
	rep.Lost = 1
	if rep.OK() {
		t.Fatal("a lost message passes")
	}
}
