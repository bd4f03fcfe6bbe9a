package hlr

import (
	"bytes"
	"encoding/binary"
	"sort"
)

// The devices of a user: one deviceSet record with every device (its
// location, epoch, last attachment and session tokens) and, next to it,
// the list of the attached devices alone, which sends and friend events
// read. Both are rewritten together (putDevices), so the attached list is
// exact after every apply, and both are point lookups: their cost depends
// on the devices a user has now, never on how many came and went.
//
// Bounds travel in the command (Cmd.Limit), not in node configuration:
// apply must be a function of the log alone, and every replica applies
// the same command. 0 (for example in entries written before the bound
// existed) means the default.
const (
	// DefaultMaxDevices is the default number of devices a user keeps
	// (epoch, cursor, sessions).
	DefaultMaxDevices = 32
	// DefaultMaxBlocks is the default number of users one user can block.
	DefaultMaxBlocks = 1000
)

func orDefault(limit, def int) int {
	if limit <= 0 {
		return def
	}
	return limit
}

// devices returns user's device set (empty if there is none).
func (t *txn) devices(user string) (*deviceSet, error) {
	ds := &deviceSet{}
	_, err := t.getRec(devicesKey(user), ds)
	return ds, err
}

// putDevices stores user's device set and the attached list derived from
// it.
func (t *txn) putDevices(user string, ds *deviceSet) error {
	if len(ds.Devices) == 0 && ds.Floor == 0 {
		if err := t.del(devicesKey(user)); err != nil {
			return err
		}
	} else if err := t.setRec(devicesKey(user), ds); err != nil {
		return err
	}
	att := ds.attached()
	if len(att) == 0 {
		return t.del(attachedKey(user))
	}
	return t.setRec(attachedKey(user), att)
}

// attachedLocations reads user's attached devices: one point lookup.
func attachedLocations(s *state, user string) ([]Location, error) {
	var locs []Location
	_, err := s.getRec(attachedKey(user), &locs)
	return locs, err
}

func (ds *deviceSet) attached() []Location {
	var out []Location
	for i := range ds.Devices {
		if d := &ds.Devices[i]; d.Node != "" {
			out = append(out, d.location())
		}
	}
	return out
}

// find returns the record of device, or nil.
func (ds *deviceSet) find(device string) *deviceRec {
	i := sort.Search(len(ds.Devices), func(i int) bool { return ds.Devices[i].Device >= device })
	if i < len(ds.Devices) && ds.Devices[i].Device == device {
		return &ds.Devices[i]
	}
	return nil
}

// add inserts a record for a device the set does not have and returns it.
func (ds *deviceSet) add(r deviceRec) *deviceRec {
	i := sort.Search(len(ds.Devices), func(i int) bool { return ds.Devices[i].Device >= r.Device })
	ds.Devices = append(ds.Devices, deviceRec{})
	copy(ds.Devices[i+1:], ds.Devices[i:])
	ds.Devices[i] = r
	return &ds.Devices[i]
}

func (r *deviceRec) dropToken(hash []byte) {
	for i, h := range r.Tokens {
		if bytes.Equal(h, hash) {
			r.Tokens = append(r.Tokens[:i], r.Tokens[i+1:]...)
			return
		}
	}
}

// attach records (user, device) → node with a fresh epoch in ds. If the
// device was attached somewhere, that old location is returned for Cancel
// Location. A device new to the set makes room first (makeRoom), and the
// evicted devices that were attached are returned for Cancel Location
// too. The caller stores ds.
func (t *txn) attach(user string, ds *deviceSet, device, node string, maxDevices int) (*deviceRec, []Location, error) {
	var cancel []Location
	d := ds.find(device)
	if d == nil {
		var err error
		if cancel, err = t.makeRoom(user, ds, orDefault(maxDevices, DefaultMaxDevices)-1); err != nil {
			return nil, nil, err
		}
		d = ds.add(deviceRec{Device: device, Epoch: ds.Floor})
	} else if d.Node != "" {
		cancel = append(cancel, d.location())
	}
	t.meta.Attaches++
	d.Node, d.Epoch, d.Attached = node, d.Epoch+1, t.meta.Attaches
	return d, cancel, nil
}

// makeRoom evicts devices from ds until at most keep are left: first the
// detached device that attached longest ago, then, if every device is
// attached, the attached one that attached longest ago (returned, for
// Cancel Location).
func (t *txn) makeRoom(user string, ds *deviceSet, keep int) ([]Location, error) {
	var cancel []Location
	for len(ds.Devices) > keep && len(ds.Devices) > 0 {
		v := 0
		for i := range ds.Devices {
			if older(&ds.Devices[i], &ds.Devices[v]) {
				v = i
			}
		}
		victim := ds.Devices[v]
		if victim.Node != "" {
			cancel = append(cancel, victim.location())
		}
		if err := t.evict(user, ds, &victim); err != nil {
			return nil, err
		}
		ds.Devices = append(ds.Devices[:v], ds.Devices[v+1:]...)
	}
	return cancel, nil
}

// older reports whether a goes before b in eviction order: detached
// before attached, then by last attachment.
func older(a, b *deviceRec) bool {
	if (a.Node == "") != (b.Node == "") {
		return a.Node == ""
	}
	return a.Attached < b.Attached
}

// evict forgets what belongs to one device of user besides its entry in
// ds (the caller removes that): its cursor and its sessions. ds's floor
// keeps its epoch.
func (t *txn) evict(user string, ds *deviceSet, d *deviceRec) error {
	if err := t.del(cursorKey(user, d.Device)); err != nil {
		return err
	}
	for _, h := range d.Tokens {
		if err := t.delSessionRecords(user, h); err != nil {
			return err
		}
	}
	if d.Epoch > ds.Floor {
		ds.Floor = d.Epoch
	}
	return nil
}

// putSession stores a session with its expiry entry and lists its token
// under the device in ds (the caller stores ds). A session already stored
// under the same hash (tokens are random, so only a replayed or forged
// command does this) is removed first, so that no device lists a token
// that is not its own.
func (t *txn) putSession(user string, ds *deviceSet, d *deviceRec, hash []byte, s *Session) error {
	if err := t.dropSession(user, ds, hash); err != nil {
		return err
	}
	if err := t.setRec(sessionKey(user, hash), s); err != nil {
		return err
	}
	if err := t.set(sessionExpiryKey(s.ExpiresMS, user, hash), nil); err != nil {
		return err
	}
	d.Tokens = append(d.Tokens, append([]byte(nil), hash...))
	return nil
}

// dropSession removes a session, its expiry entry and its token in ds, if
// the session exists (the caller stores ds).
func (t *txn) dropSession(user string, ds *deviceSet, hash []byte) error {
	var s Session
	ok, err := t.getRec(sessionKey(user, hash), &s)
	if err != nil || !ok {
		return err
	}
	if d := ds.find(s.Device); d != nil {
		d.dropToken(hash)
	}
	if err := t.del(sessionExpiryKey(s.ExpiresMS, user, hash)); err != nil {
		return err
	}
	return t.del(sessionKey(user, hash))
}

// deleteSession is dropSession for one session, storing the device set.
func (t *txn) deleteSession(user string, hash []byte) error {
	if _, ok, err := t.get(sessionKey(user, hash)); err != nil || !ok {
		return err
	}
	ds, err := t.devices(user)
	if err != nil {
		return err
	}
	if err := t.dropSession(user, ds, hash); err != nil {
		return err
	}
	return t.putDevices(user, ds)
}

// delSessionRecords removes a session and its expiry entry, leaving the
// device set alone.
func (t *txn) delSessionRecords(user string, hash []byte) error {
	var s Session
	ok, err := t.getRec(sessionKey(user, hash), &s)
	if err != nil || !ok {
		return err
	}
	if err := t.del(sessionExpiryKey(s.ExpiresMS, user, hash)); err != nil {
		return err
	}
	return t.del(sessionKey(user, hash))
}

// getUint reads an 8-byte big-endian counter (0 if absent).
func (t *txn) getUint(sub []byte) (uint64, error) {
	v, ok, err := t.get(sub)
	if err != nil || !ok || len(v) != 8 {
		return 0, err
	}
	return binary.BigEndian.Uint64(v), nil
}

func (t *txn) setUint(sub []byte, v uint64) error {
	return t.set(sub, binary.BigEndian.AppendUint64(nil, v))
}
