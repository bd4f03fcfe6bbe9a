// Package client is the Go client library of roam, the instant-messaging
// cluster. It speaks the roam protocol (package wire) over TCP to any node
// of a cluster.
//
// # Connecting and logging in
//
// Dial connects to the first reachable node and exchanges Hello/Welcome.
// Then either Register (create an account), Login (password) or Resume
// (a token saved from an earlier session):
//
//	cfg := client.DefaultConfig("node1:7400", "node2:7400")
//	cfg.TLS = &tls.Config{RootCAs: clusterCA} // nil: plaintext, loopback only
//	cfg.Device = savedDeviceID // stable per device; client.NewDeviceID() once
//	c, err := client.Dial(ctx, cfg)
//	...
//	defer c.Close()
//	err = c.Login(ctx, "alice", password)
//	save(c.Token())
//
// With TLS set the client speaks TLS 1.3 with ALPN "roam/1" and the
// dialled host as server name (PROTOCOL.md §1.5). Without it, dialling an
// address that is not loopback fails with ErrPlaintext unless
// Config.AllowPlaintext is set.
//
// Passwords never leave the process: Register sends SCRAM-SHA-256
// credentials derived locally (DeriveCredentials), and Login runs the
// SCRAM exchange, in which the server must prove it knows the keys too.
// User names are case-insensitive and sent lowercased.
//
// Every Resume (explicit, or automatic after a reconnect) rotates the
// token: the old one stops working. Save Token() after Resume and on
// EventReconnected.
//
// # Requests
//
// Every method takes a context first. A request without a deadline
// earlier than Config.RequestTimeout is bounded by it (ErrTimeout).
// Refusals come back as *Error, which carries the stable wire code;
// compare with the sentinels:
//
//	if errors.Is(err, client.ErrRateLimited) {
//		var e *client.Error
//		errors.As(err, &e)
//		time.Sleep(e.RetryAfter)
//	}
//
// # Sending
//
// Send returns once the message is durable (committed by a quorum of the
// recipient's home register). It retries lost or unanswered attempts with
// the same client message id (cmid), which the server deduplicates, and
// gives up with ErrBusy ("busy, try later") after Config.MaxSendAttempts,
// or with ErrTTLPassed once the message's TTL (WithTTL, else DefaultTTL)
// since the first attempt has nearly passed: after that the server may
// have forgotten the cmid, and a retry could be stored twice.
//
// Every error from Send is a *SendError carrying the cmid and the time of
// the first attempt. To retry later (after ErrBusy, a cancelled context,
// a restart of the process), keep them with the message and pass them
// back:
//
//	ack, err := c.Send(ctx, "bob", body)
//	var se *client.SendError
//	if errors.Is(err, client.ErrBusy) && errors.As(err, &se) {
//		save(body, se.CMID, se.First) // ... and later:
//		ack, err = c.Send(ctx, "bob", body, client.WithCMID(se.CMID), client.WithFirstAttempt(se.First))
//	}
//
// Cmids (NextCMID) start at 64 random bits per Client and count up, so
// they do not depend on the clock and do not repeat across restarts.
//
// # Receiving
//
// After a login the client syncs the inbox from the device's cursor and
// then receives pushes. Everything arrives on Events():
//
//	for ev := range c.Events() {
//		switch ev.Kind {
//		case client.EventMessage:   // ev.Message, in inbox order, each once
//		case client.EventSynced:    // caught up to ev.Cursor
//		case client.EventPresence:  // ev.User is now ev.Status
//		case client.EventFriend:    // ev.Friend ("request", ...) from ev.User
//		case client.EventSessionEnded: // ev.Err; log in again
//		}
//	}
//
// A message is acknowledged to the server (its cursor moves) only after
// it has been received from the channel, in batches (Config.AckInterval,
// Config.AckBatch), and when Close is called. Read Events continuously:
// pushed messages queue up in memory until you do. A client that never
// receives (a send-only tool) sets Config.SkipInbox.
//
// The sync reads the inbox in pages that the server bounds by the
// Config.MaxFrame the client announces in Hello, and asks for the next
// page only once the application has taken most of the previous ones, so
// a backlog of any size flows through with bounded memory.
//
// Deliveries are at most once per device and gap-free: pushes that repeat
// a delivered sequence number are dropped, and one that skips ahead makes
// the client sync again from the last delivered message.
//
// # Groups
//
// GroupCreate, GroupInvite, GroupJoin, GroupLeave, GroupKick, GroupRole,
// GroupSet and GroupDelete manage groups; GroupList and GroupMembers read
// every page (GroupListPage and GroupMembersPage read one). Refusals are
// *Error values: ErrRefused (no such group, or not allowed: one answer
// for all), ErrNameTaken, ErrGroupFull, ErrBadName, ErrBadRequest,
// ErrRateLimited. Requests whose outcome is unknown are retried like
// sends. GroupSend is Send for a group: the same cmids, retries, TTL
// bound and *SendError; Ack.Seq is the message's place in the group.
//
// Each group is a stream of its own, received like the inbox: after the
// inbox sync of a login or reconnect, the client lists the groups and
// reads each one from the last entry delivered (pages bounded by
// MaxFrame, paced by the application), then receives its pushes:
//
//	case client.EventGroupMessage: // ev.GroupMessage of ev.Group, in the group's order, each once
//	case client.EventGroupSynced:  // group ev.Group read up to ev.Cursor
//	case client.EventGroupsSynced: // every group read (after EventSynced)
//	case client.EventGroupGone:    // no longer in group ev.Group
//
// Entries are messages (Kind "") and membership events (GroupJoined,
// GroupKicked, ...). The server sends a member's messages to all its
// devices, the sending one included: those are handed over too, with
// GroupMessage.Own set, so that the application can show them as sent or
// skip them. Each group's position is acknowledged (GroupAck) as its
// entries are taken from Events, like the inbox's. GroupCursors and
// SetGroupCursors carry the positions across processes. A group joined
// on another device is picked up at the next login, or by SyncGroups.
// Config.SkipGroups turns groups off; Config.SkipInbox turns off both.
//
// # Roles
//
// RoleCreate, RoleRename, RoleDelete and Roles manage the account's roles
// (up to 8 by default): names unique in their game namespace across the
// cluster (ErrRoleTaken, ErrRoleLimit, ErrRoleNotFound). PickRole makes
// one the session's role, the identity shown in scenes; Whoami reports it
// and PickedRole returns it. 1:1 and group chat stay per account. The
// server keeps a pick per connection only: the client picks it again
// after it resumes on a new connection.
//
// # Connection loss and redirects
//
// When the connection breaks, or a node says goodbye with a redirect or
// because it shuts down, the client reconnects (the redirect address, the
// nodes named in Welcome, then Config.Addrs) and resumes the session with
// its token, reporting EventDisconnected and EventReconnected. Requests
// issued meanwhile wait for the new connection. A session that cannot be
// resumed ends with EventSessionEnded.
//
// Reconnects back off (Config.RetryBackoff doubling to Config.MaxBackoff,
// with jitter) as long as connections keep failing, for whatever reason:
// a dial error, a refused resume, a connection dropped right after the
// resume. The first reconnect after a connection that stayed up
// Config.HealthyAfter is immediate.
//
// A node may move the session (it drains, holds more than its share of
// the sessions, or, with affinity, another node leads the user's home
// partition): a redirect push and a goodbye 406 name the node to resume
// at. The client follows at most three redirects in a row (a new login or
// a connection that stays up starts the count again); when it picks a
// node itself it prefers the least loaded nodes the last redirect
// reported, the one with the shortest measured round trip first
// (pick.go). Client.Nodes returns the nodes it knows, to save for the
// next start.
//
// A node that stops answering (frozen, cut off) is left within about 1.3 s
// of a request: when a request has waited Config.ProbeAfter and
// nothing at all has arrived for as long, the client pings; if nothing
// arrives within Config.ProbeTimeout more, it closes the connection,
// avoids that node and resumes on another, where waiting sends are
// retried with their cmids. A live node holding a request pushes pongs
// meanwhile, so it is not left. Idle sessions only send their heartbeats.
//
// # Goroutines
//
// Each connection has a reader goroutine (replies are matched to requests
// by request id through a wait registry) and, once logged in, a keeper
// that sends heartbeats every Welcome/LoginOK heartbeat interval and the
// acknowledgements, and runs the liveness probe while requests wait. One session loop per client syncs and reconnects, and
// one dispatcher feeds Events. Close stops them all and closes Events.
package client
