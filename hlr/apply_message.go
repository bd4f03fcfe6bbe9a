package hlr

import (
	"encoding/binary"
)

// msgIDBits is the width of the per-partition message counter inside a
// message id; the partition number (below MaxPartitions = 2^10) fills the
// bits above it, so ids are unique in the cluster without coordination.
// 10 + 43 bits keep every id below 2^53, so clients that decode integers
// as IEEE doubles (JavaScript) get them exactly (PROTOCOL.md §9.1); 2^43
// is 8.8 trillion messages per partition.
const msgIDBits = 43

// applySend appends a message from Peer (device Device) to User's inbox.
// Only friends may send; anything else gets StatusRefused whether or not the
// recipient exists. A repeat of (Peer, Device, CMID) returns the original
// acknowledgement with Dup set and appends nothing.
func applySend(t *txn, c *Cmd) (Result, error) {
	a, err := t.account(c.User)
	if err != nil {
		return Result{}, err
	}
	if a == nil {
		return Result{Status: StatusRefused}, nil
	}
	st, err := t.edge(c.User, c.Peer)
	if err != nil {
		return Result{}, err
	}
	if st != EdgeFriend {
		return Result{Status: StatusRefused}, nil
	}
	suffix := dedupSuffix(c.Peer, c.Device, c.CMID)
	var d dedupRecord
	ok, err := t.dedupGet(dedupKey(c.User, suffix), &d)
	if err != nil {
		return Result{}, err
	}
	if ok {
		return Result{MsgID: d.ID, Seq: d.Seq, Dup: true}, nil
	}
	var h inboxHead
	if _, err := t.getRec(headKey(c.User), &h); err != nil {
		return Result{}, err
	}
	h.Last++
	exp := t.now + c.TTLMS
	if exp < h.LastExpire {
		exp = h.LastExpire // expiry never decreases along the stream
	}
	h.LastExpire = exp
	t.meta.NextMsgID++
	id := uint64(t.pid)<<msgIDBits | (t.meta.NextMsgID & (1<<msgIDBits - 1))
	m := Message{
		Seq: h.Last, ID: id, From: c.Peer, FromDevice: c.Device, To: c.User,
		Body: c.Body, SentMS: t.now, ExpiresMS: exp,
	}
	if err := t.setRec(messageKey(c.User, m.Seq), &m); err != nil {
		return Result{}, err
	}
	if err := t.setRec(headKey(c.User), &h); err != nil {
		return Result{}, err
	}
	if err := t.dedupSet(dedupKey(c.User, suffix), &dedupRecord{ID: id, Seq: m.Seq}); err != nil {
		return Result{}, err
	}
	if err := t.set(expiryKey(exp, c.User, m.Seq), suffix); err != nil {
		return Result{}, err
	}
	locs, err := attachedLocations(&t.state, c.User)
	if err != nil {
		return Result{}, err
	}
	r := Result{MsgID: id, Seq: m.Seq}
	if len(locs) > 0 {
		r.Effects = []Effect{DeliverEffect{User: c.User, Locs: locs, Msg: &m}}
	}
	return r, nil
}

// applyCursor advances a device's cursor; cursors never go back and never
// pass the end of the stream. Only a device in the user's device set has
// a cursor: the last write of a session whose device was evicted (or
// whose account was deleted) meanwhile changes nothing.
func applyCursor(t *txn, c *Cmd) (Result, error) {
	ds, err := t.devices(c.User)
	if err != nil || ds.find(c.Device) == nil {
		return Result{Status: StatusStale}, err
	}
	var h inboxHead
	if _, err := t.getRec(headKey(c.User), &h); err != nil {
		return Result{}, err
	}
	seq := c.Seq
	if seq > h.Last {
		seq = h.Last
	}
	cur, _, err := t.get(cursorKey(c.User, c.Device))
	if err != nil {
		return Result{}, err
	}
	if len(cur) == 8 && binary.BigEndian.Uint64(cur) >= seq {
		return Result{Seq: binary.BigEndian.Uint64(cur)}, nil
	}
	return Result{Seq: seq}, t.set(cursorKey(c.User, c.Device), binary.BigEndian.AppendUint64(nil, seq))
}

// dropInbox removes every message of user with its expiry index entry.
func (t *txn) dropInbox(user string) error {
	type ref struct {
		exp int64
		seq uint64
	}
	var refs []ref
	err := t.scan(skUserPrefix(skMessage, user), func(_, val []byte) (bool, error) {
		var m Message
		if err := decodeRec(val, &m); err != nil {
			return false, err
		}
		refs = append(refs, ref{m.ExpiresMS, m.Seq})
		return true, nil
	})
	if err != nil {
		return err
	}
	for _, r := range refs {
		if err := t.del(expiryKey(r.exp, user, r.seq)); err != nil {
			return err
		}
	}
	return t.delPrefix(skUserPrefix(skMessage, user))
}
