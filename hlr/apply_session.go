package hlr

// Sessions and locations: Update Location (login, resume), Purge (logout,
// detach) and the Cancel Location facts the leader acts on.

// applyLogin creates a session for (User, Device) with token hash Token and
// attaches the device at Node. CredGen must equal the account's current
// credential generation, which proves the SCRAM exchange used the current
// password.
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
	s := Session{Device: c.Device, CreatedMS: t.now, ExpiresMS: t.now + c.TTLMS, CredGen: a.CredGen}
	if err := t.putSession(c.User, c.Token, &s); err != nil {
		return Result{}, err
	}
	return t.attach(c.User, c.Device, c.Node, a.CredGen)
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
	if err := t.deleteSession(c.User, c.Token); err != nil {
		return Result{}, err
	}
	s.ExpiresMS = t.now + c.TTLMS
	if err := t.putSession(c.User, c.NewToken, &s); err != nil {
		return Result{}, err
	}
	return t.attach(c.User, c.Device, c.Node, a.CredGen)
}

func (t *txn) putSession(user string, hash []byte, s *Session) error {
	if err := t.setRec(sessionKey(user, hash), s); err != nil {
		return err
	}
	return t.set(sessionExpiryKey(s.ExpiresMS, user, hash), nil)
}

// attach records (user, device) → node with a fresh epoch. If the device was
// attached somewhere, that old location is returned for Cancel Location.
func (t *txn) attach(user, device, node string, gen uint64) (Result, error) {
	var l Location
	if _, err := t.getRec(locationKey(user, device), &l); err != nil {
		return Result{}, err
	}
	var cancel []Location
	if l.Node != "" {
		cancel = append(cancel, l)
	}
	l = Location{Device: device, Node: node, Epoch: l.Epoch + 1}
	if err := t.setRec(locationKey(user, device), &l); err != nil {
		return Result{}, err
	}
	return Result{Epoch: l.Epoch, CredGen: gen, Cancel: cancel}, nil
}

// applyLogout ends the session and detaches the device.
func applyLogout(t *txn, c *Cmd) (Result, error) {
	if err := t.deleteSession(c.User, c.Token); err != nil {
		return Result{}, err
	}
	return applyPurge(t, c)
}

// applyPurge detaches (User, Device) if it is still at epoch c.Epoch; a
// stale purge from a node the device has left changes nothing.
func applyPurge(t *txn, c *Cmd) (Result, error) {
	var l Location
	ok, err := t.getRec(locationKey(c.User, c.Device), &l)
	if err != nil {
		return Result{}, err
	}
	if !ok || l.Epoch != c.Epoch || l.Node == "" {
		return Result{Status: StatusStale}, nil
	}
	l.Node = ""
	return Result{}, t.setRec(locationKey(c.User, c.Device), &l)
}
