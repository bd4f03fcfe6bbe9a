package hlr

import "bytes"

// Sessions and locations: Update Location (login, resume), Purge (logout,
// detach) and the Cancel Location facts the leader acts on.

// applyLogin creates a session for (User, Device) with token hash Token and
// attaches the device at Node. CredGen must equal the account's current
// credential generation, which proves the SCRAM exchange used the current
// password. The device's older sessions end: a device that logs in again
// has lost (or given up) its tokens, so sessions are replaced, not
// accumulated. A device new to the user may evict another (Limit bounds
// the devices; see attach).
func applyLogin(t *txn, c *Cmd) (Result, error) {
	a, err := t.account(c.User)
	if err != nil {
		return Result{}, err
	}
	if a == nil {
		return Result{Status: StatusNotFound}, nil
	}
	if c.CredGen != a.CredGen {
		return Result{Status: StatusStale}, nil
	}
	if len(c.Token) == 0 || c.Device == "" || c.Node == "" {
		return Result{Status: StatusInvalid}, nil
	}
	ds, err := t.devices(c.User)
	if err != nil {
		return Result{}, err
	}
	if d := ds.find(c.Device); d != nil {
		for _, h := range d.Tokens {
			if err := t.delSessionRecords(c.User, h); err != nil {
				return Result{}, err
			}
		}
		d.Tokens = nil
	}
	d, cancel, err := t.attach(c.User, ds, c.Device, c.Node, c.Limit)
	if err != nil {
		return Result{}, err
	}
	s := Session{Device: c.Device, CreatedMS: t.now, ExpiresMS: t.now + c.TTLMS, CredGen: a.CredGen}
	if err := t.putSession(c.User, ds, d, c.Token, &s); err != nil {
		return Result{}, err
	}
	return Result{Epoch: d.Epoch, CredGen: a.CredGen, Effects: cancels(nil, c.User, cancel, reasonReplaced)}, t.putDevices(c.User, ds)
}

// applyResume rotates a session token and attaches the device at Node.
func applyResume(t *txn, c *Cmd) (Result, error) {
	a, err := t.account(c.User)
	if err != nil {
		return Result{}, err
	}
	if a == nil {
		return Result{Status: StatusNotFound}, nil
	}
	var s Session
	ok, err := t.getRec(sessionKey(c.User, c.Token), &s)
	if err != nil {
		return Result{}, err
	}
	if !ok {
		return retriedResume(t, a, c)
	}
	if s.Device != c.Device || s.CredGen != a.CredGen {
		return Result{Status: StatusNotFound}, nil
	}
	if s.ExpiresMS <= t.now {
		return Result{Status: StatusExpired}, t.deleteSession(c.User, c.Token)
	}
	if len(c.NewToken) == 0 || c.Node == "" {
		return Result{Status: StatusInvalid}, nil
	}
	ds, err := t.devices(c.User)
	if err != nil {
		return Result{}, err
	}
	if err := t.dropSession(c.User, ds, c.Token); err != nil {
		return Result{}, err
	}
	d, cancel, err := t.attach(c.User, ds, c.Device, c.Node, c.Limit)
	if err != nil {
		return Result{}, err
	}
	s.ExpiresMS = t.now + c.TTLMS
	s.RotatedMS = t.now
	s.TryMS = c.TryMS
	if err := t.putSession(c.User, ds, d, c.NewToken, &s); err != nil {
		return Result{}, err
	}
	return Result{Epoch: d.Epoch, CredGen: a.CredGen, Effects: cancels(nil, c.User, cancel, reasonReplaced)}, t.putDevices(c.User, ds)
}

// applyLogout ends the session and detaches the device if it is still at
// epoch c.Epoch.
func applyLogout(t *txn, c *Cmd) (Result, error) {
	ds, err := t.devices(c.User)
	if err != nil {
		return Result{}, err
	}
	if err := t.dropSession(c.User, ds, c.Token); err != nil {
		return Result{}, err
	}
	res := purge(ds, c)
	return res, t.putDevices(c.User, ds)
}

// applyPurge detaches (User, Device) if it is still at epoch c.Epoch; a
// stale purge from a node the device has left changes nothing.
func applyPurge(t *txn, c *Cmd) (Result, error) {
	ds, err := t.devices(c.User)
	if err != nil {
		return Result{}, err
	}
	if res := purge(ds, c); res.Status != StatusOK {
		return res, nil
	}
	return Result{}, t.putDevices(c.User, ds)
}

func purge(ds *deviceSet, c *Cmd) Result {
	d := ds.find(c.Device)
	if d == nil || d.Epoch != c.Epoch || d.Node == "" {
		return Result{Status: StatusStale}
	}
	d.Node = ""
	return Result{}
}

// ResumeRetryWindowMS bounds how long after a resume rotated a token the
// same resume, retried with the old token, is granted again.
const ResumeRetryWindowMS = 2 * 60 * 1000

// retriedResume answers a resume whose token is gone because an earlier
// attempt of the same resume already rotated it (its reply was lost: the
// client retries with the token it still has). The caller derives
// NewToken from the old token (vlr's rotateToken), so a retry asks for the
// session the first attempt created; if that session exists, for the same
// device, was made by a rotation within ResumeRetryWindowMS and is still
// current, the device is attached again and the answer is the first
// one's: the same new token, a fresh epoch. An attempt that reached its
// VLR before the one holding the session (Cmd.TryMS) is stale: the
// client gave it up for the later one. Anything else is not found.
// Only the first rotation is repeatable: once the client resumed with the
// new token, the old one predicts a session that no longer exists.
func retriedResume(t *txn, a *Account, c *Cmd) (Result, error) {
	if len(c.NewToken) == 0 || c.Node == "" || bytes.Equal(c.Token, c.NewToken) {
		return Result{Status: StatusNotFound}, nil
	}
	var s Session
	ok, err := t.getRec(sessionKey(c.User, c.NewToken), &s)
	if err != nil || !ok {
		return Result{Status: StatusNotFound}, err
	}
	if s.Device != c.Device || s.CredGen != a.CredGen || s.RotatedMS == 0 ||
		t.now-s.RotatedMS > ResumeRetryWindowMS || s.ExpiresMS <= t.now {
		return Result{Status: StatusNotFound}, nil
	}
	if c.TryMS > 0 && s.TryMS > 0 && c.TryMS < s.TryMS {
		// An attempt older than the one holding the session: the client
		// left it for a later one (a router still retrying it, its reply
		// gone with the connection). Granting it would take the device
		// from the client's live session; nothing changes.
		return Result{Status: StatusStale}, nil
	}
	ds, err := t.devices(c.User)
	if err != nil {
		return Result{}, err
	}
	if ds.find(c.Device) == nil {
		return Result{Status: StatusNotFound}, nil
	}
	d, cancel, err := t.attach(c.User, ds, c.Device, c.Node, c.Limit)
	if err != nil {
		return Result{}, err
	}
	if c.TryMS > s.TryMS {
		s.TryMS = c.TryMS
		if err := t.setRec(sessionKey(c.User, c.NewToken), &s); err != nil {
			return Result{}, err
		}
	}
	return Result{Epoch: d.Epoch, CredGen: a.CredGen, Effects: cancels(nil, c.User, cancel, reasonReplaced)}, t.putDevices(c.User, ds)
}
