package hlr

// The friend graph. Each user's home partition holds that user's side of
// every edge. Operations that change both sides commit the local side and
// write an outbox item that the leader delivers to the peer's partition, at
// least once; the peer-side commands are idempotent.

func (t *txn) edge(user, peer string) (byte, error) {
	v, ok, err := t.get(edgeKey(user, peer))
	if err != nil || !ok || len(v) != 1 {
		return 0, err
	}
	return v[0], nil
}

func (t *txn) setEdge(user, peer string, st byte) error {
	return t.set(edgeKey(user, peer), []byte{st})
}

// withEvent adds the friend event ev about peer for user's attached
// devices, if any are attached.
func (t *txn) withEvent(r Result, user, ev, peer string) (Result, error) {
	locs, err := attachedLocations(&t.state, user)
	if err != nil {
		return Result{}, err
	}
	if len(locs) > 0 {
		r.Effects = append(r.Effects, FriendEffect{User: user, Locs: locs, Event: ev, Peer: peer})
	}
	return r, nil
}

// applyFriendRequest: Peer asks User. When User does not exist or has
// blocked Peer, nothing is recorded on User's side, but the answer and the
// asker's side are the same as for a request User has not answered yet:
// the request shows as outgoing to the asker, who cannot tell the cases
// apart. If User had already asked Peer, the two requests meet and the
// friendship is made.
func applyFriendRequest(t *txn, c *Cmd) (Result, error) {
	if c.User == c.Peer {
		return Result{Status: StatusRefused}, nil
	}
	a, err := t.account(c.User)
	if err != nil {
		return Result{}, err
	}
	var st byte
	if a != nil {
		if st, err = t.edge(c.User, c.Peer); err != nil {
			return Result{}, err
		}
	}
	// Record the request on the asker's side too, so it shows as
	// outgoing there, can be withdrawn, and is dropped here if the asker
	// deletes the account.
	sent := Cmd{Op: OpFriendSent, User: c.Peer, Peer: c.User}
	switch {
	case a == nil || st == EdgeBlocked:
		return Result{Outbox: true}, t.addOutbox(sent)
	case st == EdgeFriend || st == EdgeIncoming:
		return Result{}, nil // idempotent
	case st == EdgeOutgoing:
		if err := t.setEdge(c.User, c.Peer, EdgeFriend); err != nil {
			return Result{}, err
		}
		if err := t.addOutbox(Cmd{Op: OpFriendConfirm, User: c.Peer, Peer: c.User}); err != nil {
			return Result{}, err
		}
		return t.withEvent(Result{Outbox: true}, c.User, "accepted", c.Peer)
	}
	if err := t.setEdge(c.User, c.Peer, EdgeIncoming); err != nil {
		return Result{}, err
	}
	if err := t.addOutbox(sent); err != nil {
		return Result{}, err
	}
	return t.withEvent(Result{Outbox: true}, c.User, "request", c.Peer)
}

// applyFriendSent records on User's side that User asked Peer.
func applyFriendSent(t *txn, c *Cmd) (Result, error) {
	st, err := t.edge(c.User, c.Peer)
	if err != nil {
		return Result{}, err
	}
	if st != 0 {
		return Result{}, nil // a friendship, a crossing request or a block stays as it is
	}
	if a, err := t.account(c.User); err != nil || a == nil {
		return Result{}, err // the asker deleted the account meanwhile
	}
	return Result{}, t.setEdge(c.User, c.Peer, EdgeOutgoing)
}

// applyFriendAccept: User accepts Peer's pending request.
func applyFriendAccept(t *txn, c *Cmd) (Result, error) {
	st, err := t.edge(c.User, c.Peer)
	if err != nil {
		return Result{}, err
	}
	switch st {
	case EdgeFriend:
		return Result{}, nil
	case EdgeIncoming:
	default:
		return Result{Status: StatusNoRequest}, nil
	}
	if err := t.setEdge(c.User, c.Peer, EdgeFriend); err != nil {
		return Result{}, err
	}
	return t.tell(Cmd{Op: OpFriendConfirm, User: c.Peer, Peer: c.User})
}

// applyFriendConfirm: Peer accepted User's request (delivered from Peer's
// partition). A block on User's side wins.
func applyFriendConfirm(t *txn, c *Cmd) (Result, error) {
	st, err := t.edge(c.User, c.Peer)
	if err != nil {
		return Result{}, err
	}
	if st == EdgeBlocked || st == EdgeFriend {
		return Result{}, nil
	}
	if a, err := t.account(c.User); err != nil || a == nil {
		return Result{}, err
	}
	if err := t.setEdge(c.User, c.Peer, EdgeFriend); err != nil {
		return Result{}, err
	}
	return t.withEvent(Result{}, c.User, "accepted", c.Peer)
}

// applyFriendDecline: User declines Peer's request.
func applyFriendDecline(t *txn, c *Cmd) (Result, error) {
	st, err := t.edge(c.User, c.Peer)
	if err != nil {
		return Result{}, err
	}
	if st != EdgeIncoming {
		return Result{Status: StatusNoRequest}, nil
	}
	if err := t.del(edgeKey(c.User, c.Peer)); err != nil {
		return Result{}, err
	}
	return t.tell(Cmd{Op: OpFriendDrop, User: c.Peer, Peer: c.User, Reason: "declined"})
}

// applyFriendRemove: User ends the friendship (or withdraws a request).
func applyFriendRemove(t *txn, c *Cmd) (Result, error) {
	st, err := t.edge(c.User, c.Peer)
	if err != nil {
		return Result{}, err
	}
	if st == 0 || st == EdgeBlocked {
		return Result{}, nil
	}
	if err := t.del(edgeKey(c.User, c.Peer)); err != nil {
		return Result{}, err
	}
	return t.tell(Cmd{Op: OpFriendDrop, User: c.Peer, Peer: c.User})
}

// applyFriendDrop removes User's edge to Peer unless it is a block. The
// event for User's devices is c.Reason ("declined") or "removed".
func applyFriendDrop(t *txn, c *Cmd) (Result, error) {
	st, err := t.edge(c.User, c.Peer)
	if err != nil {
		return Result{}, err
	}
	if st == 0 || st == EdgeBlocked {
		return Result{}, nil
	}
	if err := t.del(edgeKey(c.User, c.Peer)); err != nil {
		return Result{}, err
	}
	ev := "removed"
	if c.Reason == "declined" {
		ev = "declined"
	}
	return t.withEvent(Result{}, c.User, ev, c.Peer)
}

// applyBlock: User blocks Peer. The block is recorded whether or not Peer
// exists (User's block list must not tell), and nothing else is written
// unless there was something to undo on Peer's side: a friendship, or
// User's own request to Peer, is dropped there. A request from Peer stays
// pending on Peer's side, so Peer cannot tell a block from a request left
// unanswered. A user can block at most c.Limit users.
func applyBlock(t *txn, c *Cmd) (Result, error) {
	if c.User == c.Peer {
		return Result{Status: StatusInvalid}, nil
	}
	if a, err := t.account(c.User); err != nil || a == nil {
		return Result{Status: StatusNotFound}, err
	}
	st, err := t.edge(c.User, c.Peer)
	if err != nil {
		return Result{}, err
	}
	if st == EdgeBlocked {
		return Result{}, nil
	}
	n, err := t.getUint(blockCountKey(c.User))
	if err != nil {
		return Result{}, err
	}
	if n >= uint64(orDefault(c.Limit, DefaultMaxBlocks)) {
		return Result{Status: StatusRefused}, nil
	}
	if err := t.setEdge(c.User, c.Peer, EdgeBlocked); err != nil {
		return Result{}, err
	}
	if err := t.setUint(blockCountKey(c.User), n+1); err != nil {
		return Result{}, err
	}
	if st != EdgeFriend && st != EdgeOutgoing {
		return Result{}, nil
	}
	return t.tell(Cmd{Op: OpFriendDrop, User: c.Peer, Peer: c.User})
}

// applyUnblock removes a block; without one (a name never blocked, or
// with no account) it changes nothing.
func applyUnblock(t *txn, c *Cmd) (Result, error) {
	st, err := t.edge(c.User, c.Peer)
	if err != nil {
		return Result{}, err
	}
	if st != EdgeBlocked {
		return Result{}, nil
	}
	if err := t.del(edgeKey(c.User, c.Peer)); err != nil {
		return Result{}, err
	}
	n, err := t.getUint(blockCountKey(c.User))
	if err != nil {
		return Result{}, err
	}
	if n <= 1 {
		return Result{}, t.del(blockCountKey(c.User))
	}
	return Result{}, t.setUint(blockCountKey(c.User), n-1)
}

// tell queues cmd for the other user's partition (the outbox delivers it
// at least once) and says so in the result.
func (t *txn) tell(cmd Cmd) (Result, error) {
	if err := t.addOutbox(cmd); err != nil {
		return Result{}, err
	}
	return Result{Outbox: true}, nil
}
