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

// TestReportOK_DeliveryHeldToTheP99: the bounded-delivery contract is a
// p99 (DESIGN.md §4.7): a run fails when a checked message was never
// delivered or when the 99th percentile of the latency passes the bound,
// and a few late deliveries alone are listed without failing it.
func TestReportOK_DeliveryHeldToTheP99(t *testing.T) {
	ok := func(d DeliveryResult) bool {
		rep := &Report{Accounts: AccountResult{Linearizable: "ok"}, Delivery: d}
		return rep.OK()
	}
	base := DeliveryResult{BoundMs: 2000, Checked: 1000, P99ms: 400}
	if !ok(base) {
		t.Fatal("a clean delivery result fails")
	}
	late := base
	late.Late, late.Maxms = 3, 5800
	if !ok(late) {
		t.Fatal("three late deliveries with p99 within the bound fail the run")
	}
	tail := late
	tail.P99ms = 2100
	if ok(tail) {
		t.Fatal("a p99 beyond the bound passes")
	}
	missing := base
	missing.Missing = 1
	if ok(missing) {
		t.Fatal("a message never delivered to an online device passes")
	}
}
