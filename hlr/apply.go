package hlr

import (
	"bytes"
	"strings"
)

// apply executes one command against the transaction. Logical failures are
// reported in Result.Status; an error means the store failed.
func apply(t *txn, c *Cmd) (Result, error) {
	// User names and device ids are parts of keys separated by 0x00; one
	// containing 0x00 could reach another user's keys.
	if hasNul(c.User) || hasNul(c.Peer) || hasNul(c.Device) || hasNul(c.Group) ||
		hasNul(c.NS) || hasNul(c.RoleName) || hasNul(c.OldName) {
		return Result{Status: StatusInvalid}, nil
	}
	switch c.Op {
	case OpRegister:
		return applyRegister(t, c)
	case OpDeleteAccount:
		return applyDeleteAccount(t, c)
	case OpSetCreds:
		return applySetCreds(t, c)
	case OpSetProfile:
		return applySetProfile(t, c)
	case OpLogin:
		return applyLogin(t, c)
	case OpResume:
		return applyResume(t, c)
	case OpLogout:
		return applyLogout(t, c)
	case OpPurge:
		return applyPurge(t, c)
	case OpFriendRequest:
		return applyFriendRequest(t, c)
	case OpFriendSent:
		return applyFriendSent(t, c)
	case OpFriendAccept:
		return applyFriendAccept(t, c)
	case OpFriendConfirm:
		return applyFriendConfirm(t, c)
	case OpFriendDecline:
		return applyFriendDecline(t, c)
	case OpFriendRemove:
		return applyFriendRemove(t, c)
	case OpFriendDrop:
		return applyFriendDrop(t, c)
	case OpBlock:
		return applyBlock(t, c)
	case OpUnblock:
		return applyUnblock(t, c)
	case OpSend:
		return applySend(t, c)
	case OpCursor:
		return applyCursor(t, c)
	case OpExpire:
		return applyExpire(t, c)
	case OpOutboxDone:
		return Result{}, t.del(outboxKey(c.ID))
	}
	if c.Op >= OpGroupCreate && c.Op <= OpGroupUnlink {
		return applyGroupOp(t, c)
	}
	if c.Op >= OpSchedCreate && c.Op <= OpSchedDone {
		return applySchedOp(t, c)
	}
	if c.Op >= OpRoleClaim && c.Op <= OpRoleUnlink {
		return applyRoleOp(t, c)
	}
	return Result{Status: StatusInvalid}, nil
}

func (t *txn) account(user string) (*Account, error) {
	var a Account
	ok, err := t.getRec(accountKey(user), &a)
	if err != nil || !ok {
		return nil, err
	}
	return &a, nil
}

func applyRegister(t *txn, c *Cmd) (Result, error) {
	if c.User == "" || c.Creds == nil {
		return Result{Status: StatusInvalid}, nil
	}
	a, err := t.account(c.User)
	if err != nil {
		return Result{}, err
	}
	if a != nil {
		// A retry of the same registration (its reply was lost) carries
		// the same random salt and keys: answer it as the first time.
		if a.CredGen == 1 && bytes.Equal(a.Salt, c.Creds.Salt) && bytes.Equal(a.StoredKey, c.Creds.StoredKey) {
			return Result{CredGen: 1}, nil
		}
		return Result{Status: StatusExists}, nil
	}
	acc := Account{
		User: c.User, Salt: c.Creds.Salt, Iters: c.Creds.Iters,
		StoredKey: c.Creds.StoredKey, ServerKey: c.Creds.ServerKey,
		CredGen: 1, CreatedMS: t.now,
	}
	return Result{CredGen: 1}, t.setRec(accountKey(c.User), &acc)
}

func applySetProfile(t *txn, c *Cmd) (Result, error) {
	a, err := t.account(c.User)
	if err != nil {
		return Result{}, err
	}
	if a == nil {
		return Result{Status: StatusNotFound}, nil
	}
	if c.Name != nil {
		a.DisplayName = *c.Name
	}
	if c.About != nil {
		a.About = *c.About
	}
	return Result{}, t.setRec(accountKey(c.User), a)
}

// applySetCreds changes the password. Every session except the one whose
// token hash is c.Token ends, and every device but c.Device is cancelled.
func applySetCreds(t *txn, c *Cmd) (Result, error) {
	a, err := t.account(c.User)
	if err != nil {
		return Result{}, err
	}
	if a == nil {
		return Result{Status: StatusNotFound}, nil
	}
	if c.Creds == nil {
		return Result{Status: StatusInvalid}, nil
	}
	a.Salt, a.Iters, a.StoredKey, a.ServerKey = c.Creds.Salt, c.Creds.Iters, c.Creds.StoredKey, c.Creds.ServerKey
	a.CredGen++
	if err := t.setRec(accountKey(c.User), a); err != nil {
		return Result{}, err
	}
	// End the other sessions; keep (and re-stamp) the caller's.
	ds, err := t.devices(c.User)
	if err != nil {
		return Result{}, err
	}
	var hashes [][]byte
	var keep *Session
	err = t.scan(skUserPrefix(skSession, c.User), func(sub, val []byte) (bool, error) {
		h := append([]byte(nil), sub[len(c.User)+2:]...)
		if bytes.Equal(h, c.Token) {
			var s Session
			if err := decodeRec(val, &s); err != nil {
				return false, err
			}
			keep = &s
			return true, nil
		}
		hashes = append(hashes, h)
		return true, nil
	})
	if err != nil {
		return Result{}, err
	}
	for _, h := range hashes {
		if err := t.dropSession(c.User, ds, h); err != nil {
			return Result{}, err
		}
	}
	if keep != nil {
		keep.CredGen = a.CredGen
		if err := t.setRec(sessionKey(c.User, c.Token), keep); err != nil {
			return Result{}, err
		}
	}
	cancel := detachAllBut(ds, c.Device)
	return Result{CredGen: a.CredGen, Effects: cancels(nil, c.User, cancel, reasonPasswordChanged)}, t.putDevices(c.User, ds)
}

// detachAllBut clears the location of every attached device in ds except
// keep and returns the old locations, which the leader must cancel.
func detachAllBut(ds *deviceSet, keep string) []Location {
	var cancel []Location
	for i := range ds.Devices {
		d := &ds.Devices[i]
		if d.Node == "" || d.Device == keep {
			continue
		}
		cancel = append(cancel, d.location())
		d.Node = ""
	}
	return cancel
}

func applyDeleteAccount(t *txn, c *Cmd) (Result, error) {
	a, err := t.account(c.User)
	if err != nil {
		return Result{}, err
	}
	if a == nil {
		return Result{Status: StatusNotFound}, nil
	}
	ds, err := t.devices(c.User)
	if err != nil {
		return Result{}, err
	}
	cancel := detachAllBut(ds, c.Device)
	// Tell every peer's partition to forget this user.
	var peers []string
	err = t.scan(skUserPrefix(skEdge, c.User), func(sub, val []byte) (bool, error) {
		if len(val) == 1 && val[0] != EdgeBlocked {
			peers = append(peers, string(sub[len(c.User)+2:]))
		}
		return true, nil
	})
	if err != nil {
		return Result{}, err
	}
	for _, p := range peers {
		if err := t.addOutbox(Cmd{Op: OpFriendDrop, User: p, Peer: c.User}); err != nil {
			return Result{}, err
		}
	}
	// And every group to let the user go (or drop its invite).
	groups, err := t.leaveAllGroups(c.User)
	if err != nil {
		return Result{}, err
	}
	// Session expiry index entries point at sessions; remove them first.
	var hashes [][]byte
	err = t.scan(skUserPrefix(skSession, c.User), func(sub, _ []byte) (bool, error) {
		hashes = append(hashes, append([]byte(nil), sub[len(c.User)+2:]...))
		return true, nil
	})
	if err != nil {
		return Result{}, err
	}
	for _, h := range hashes {
		if err := t.delSessionRecords(c.User, h); err != nil {
			return Result{}, err
		}
	}
	if err := t.dropSchedules(c.User); err != nil {
		return Result{}, err
	}
	// And every role's claim to be released (role.go).
	roles, err := t.releaseAllRoles(c.User)
	if err != nil {
		return Result{}, err
	}
	// Inbox: drop the messages and their expiry index entries.
	if err := t.dropInbox(c.User); err != nil {
		return Result{}, err
	}
	for _, kind := range []byte{skEdge, skCursor, skDedup, skUserGroup, skRole, skRoleFence} {
		if err := t.delPrefix(skUserPrefix(kind, c.User)); err != nil {
			return Result{}, err
		}
	}
	for _, k := range [][]byte{headKey(c.User), devicesKey(c.User), attachedKey(c.User), blockCountKey(c.User)} {
		if err := t.del(k); err != nil {
			return Result{}, err
		}
	}
	if err := t.del(accountKey(c.User)); err != nil {
		return Result{}, err
	}
	return Result{Effects: cancels(nil, c.User, cancel, reasonAccountDeleted), Outbox: len(peers)+groups+roles > 0}, nil
}

func (t *txn) addOutbox(c Cmd) error {
	t.meta.NextBoxID++
	it := outboxItem{ID: t.meta.NextBoxID, Cmd: c}
	return t.setRec(outboxKey(it.ID), &it)
}

func hasNul(s string) bool { return strings.IndexByte(s, 0) >= 0 }
