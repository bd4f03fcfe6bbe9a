package hlr

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
	return Result{Epoch: d.Epoch, CredGen: a.CredGen, Cancel: cancel}, t.putDevices(c.User, ds)
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
	if !ok || s.Device != c.Device || s.CredGen != a.CredGen {
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
	if err := t.putSession(c.User, ds, d, c.NewToken, &s); err != nil {
		return Result{}, err
	}
	return Result{Epoch: d.Epoch, CredGen: a.CredGen, Cancel: cancel}, t.putDevices(c.User, ds)
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
