// Package sim is roam's churn simulator: it drives a real roam cluster
// (spawned here as roamd processes, or given by address) with a seeded,
// randomized workload through the Go client library, injects faults on a
// schedule drawn from the same seed, records a history of everything the
// clients saw, and checks that history with pure functions.
//
//	rep, err := sim.Run(ctx, cfg) // cfg from sim.DefaultConfig()
//	rep.WriteTable(os.Stdout)
//	if !rep.OK() { ... }
//
// cmd/roamsim is the command; `make sim` runs the modest scenario (3
// nodes, 95 s, 200 sends/s, 6 groups) and bench/sim-10min.md documents the long one
// (5 nodes, 10 minutes, over 1,000 sends/s).
//
// # Workload
//
//   - Messages (drive.go): every tick a random device of a random user
//     sends to a friend; bodies are a unique key plus filler the reader
//     verifies (body.go), of mixed sizes up to MaxBody. A share of the
//     users have up to DevicesMax devices; a share are quiet (rarely a
//     recipient), so that a lost one-way Deliver is not repaired soon by
//     the next message. Devices go offline and come back (churn).
//   - Backlogs (backlog.go): a user goes offline on every device until
//     Backlog messages wait, then every device logs in on another node and
//     syncs; the sync must complete and its time is reported.
//   - Revocations (ghost.go): devices log in on another node while their
//     node is cut off (partition) or while Cancel items are dropped
//     (gatedrop); a device changes its user's password; a throwaway
//     account is deleted from one of its two devices. The revoked
//     sessions' clients are kept alive as ghosts that keep sending and
//     reading for GhostLife.
//   - Accounts (accounts.go): register, login, password change and profile
//     operations on a few accounts from concurrent clients.
//   - Groups (groups.go): an owner account of its own creates Groups
//     groups (and invites and kicks; its one device follows every group
//     and sees no churn); GroupMembers users, whose devices are spread
//     over all nodes, join each; a GroupShare of the send decisions are
//     group sends by a random device of a random member; every
//     MemberEvery a member leaves or is kicked, or a non-member (new, or
//     coming back) is invited and joins and syncs from its joined entry
//     on, all through the faults. Each device continues its group
//     streams across logins from the seqs it recorded.
//   - Scheduled messages (schedule.go): every SchedEvery a user schedules
//     a message to a friend (or, a SchedGroupShare of them, a member to a
//     group) SchedMinAhead plus half a second to SchedMaxAhead ahead (a
//     spawned cluster runs with schedule_min_ahead SchedMinAhead, 1 s in
//     `make sim`); a share are cancelled, edited (new body and time) or
//     sent now, some racing the fire. The end phase reads the senders'
//     lists until nothing of the run is pending or firing.
//
// # Faults (faults.go, nodefaults.go)
//
// kill (kill -9 of the node leading the busiest partition, restarted
// later), pause (SIGSTOP/SIGCONT), leave (SIGTERM, restarted later), join,
// partition (TCP proxies on the internal ports cut a node or a minority
// off, see proxy.go), gatedrop and gatereset (inside a node, through its
// fault-control endpoint roamd -fault-control, see control.go and
// node/faultctl: one-way gate items dropped with a probability, gate
// connections closed repeatedly), clientreset (client connections killed
// by the kernel, ss -K, see clientreset.go) and disconnect (a device's
// client closed). Node faults never overlap; disconnects run on their own
// timeline.
//
// # History and checkers
//
// The runner records Sends (with the session that made them), per device
// the Deliveries, the online Stretches (logged in, synced, connected to
// one node) and, per client object, the Session with its revocation and
// the session-ended events; the Cutoffs of each node (paused,
// partitioned, down). The scheduled messages: per schedule its requests
// and replies (SchedIntent) and its state in the sender's list at the
// end; fires are the deliveries and group entries from device " sched".
// For the groups: the GroupSends, the MemberOps
// (join, leave, kick; their seqs are found in the stream), per device
// the group entries received and the GroupOnline stretches (following
// a group: from its group_synced event to group_gone or the end of the
// device's stretch), and the GroupFinals, every stream read from seq 1
// by a fresh device of the owner at the end. Checkers are pure
// functions of that History, each with tests that plant the violation:
//
//   - Check (history.go): lost, duplicated, unexpected, recovered, order,
//     seq mismatches and conflicts, real-time order of inbox appends,
//     corrupted bodies;
//   - CheckDelivery (delivery.go): bounded delivery to online devices;
//   - CheckRevocation and CheckSessionEnds (revoke.go): no activity of a
//     revoked session after the bound (inbox or group entries, acked
//     sends); no session_invalid end of a
//     session that was never revoked (nor possibly ended by its own
//     re-login in a password change of unknown outcome);
//   - CheckGroups (groupcheck.go): every entry a device receives is the
//     final read's at its seq, once, in increasing order, within its
//     user's memberships (from the joined entry to the left or kicked
//     entry) and without gaps inside one; devices following their groups
//     at the end hold every entry of their current memberships; acked
//     sends are in the final read at their seq; each acknowledged
//     membership change has its entry and no entry lacks one; bounded
//     delivery of group messages to the devices following the group
//     (CheckDelivery over per-group stretches, cut-offs included);
//   - CheckSchedules (schedcheck.go): every acknowledged schedule not
//     cancelled while pending fires exactly once (one message in the
//     recipient's inbox, or the group's final read), a cancelled one
//     never, an edited one with its edited body at or after its edited
//     time, none before its time (SchedSlack), the sender's list agrees;
//     outcomes unknown allow either state, once at most; lateness after
//     the fire time (server time and first receipt) is reported;
//   - CheckAccounts (linear.go): linearizability with porcupine;
//   - Impacts (impact.go): what each node fault did to the sends.
//
// Presence convergence (presence.go), backlog sync times and the
// leadership balance (leaders.go) are measured at the end of the run.
//
// # Goroutines
//
// Run owns everything it starts: the drive loop runs in the caller's
// goroutine; the fault timelines, the account, backlog, password and
// deletion workloads run until the run's context ends (Run waits for
// them); each send (1:1 or group) runs in its own goroutine (at most
// 2,048 in flight, awaited before the end phase); each scheduled
// message's requests run in a goroutine of their own, awaited after the
// heal; the membership
// changes run in goroutines of their own, awaited with the workloads; devices going away and back, re-logins
// and ghosts run in the runner's task group, awaited before the quiet
// phase and again at the end; each client has a reader goroutine that
// ends when the client is closed.
package sim
