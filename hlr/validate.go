package hlr

// Validating a visitor register's session against the location records:
// the home side of bounded revocation. A VLR's session is valid while its
// device is attached at the VLR's node with the session's epoch; when that
// stops being so (another login of the device, a password change, the
// account's deletion, a logout, the device bound evicting the device) the
// session must end even if the Cancel Location that says so was lost. The
// VLR asks with QueryValidate (many sessions per partition in one read),
// and every session-bound read (Query.Epoch set) is checked the same way.

// Revocation reasons: why a session is no longer valid. They are the
// reasons Cancel Location carries too, and the VLR maps each to the
// goodbye code the client gets.
const (
	RevokeReplaced        = "session_replaced" // the device logged in again (anywhere), or was evicted
	RevokePasswordChanged = "password_changed" // the password changed after the session logged in
	RevokeAccountDeleted  = "account_deleted"  // the account no longer exists
	RevokeLoggedOut       = "logged_out"       // the device was detached at this very epoch (logout, purge)
	// NotYet is not a revocation: the leader's records are older than the
	// session (its epoch is ahead of the stored one), so it cannot judge
	// yet. The VLR asks again.
	NotYet = "not_yet"
)

// MaxValidate bounds the sessions one QueryValidate lists.
const MaxValidate = 4096

// SessionRef names one session of a visitor register.
type SessionRef struct {
	User    string `msgpack:"u"`
	Device  string `msgpack:"d"`
	Epoch   uint64 `msgpack:"e"`
	CredGen uint64 `msgpack:"g,omitempty"` // credential generation it logged in with (0: unknown)
}

// SessionState judges the session ref held at node: "" while its device
// is attached there with its epoch, else a Revoke reason, or NotYet.
func (v *View) SessionState(node string, ref SessionRef) (string, error) {
	l, ok, err := v.deviceLocation(ref.User, ref.Device)
	if err != nil {
		return "", err
	}
	switch {
	case ok && l.Epoch == ref.Epoch && l.Node == node && node != "":
		return "", nil
	case ok && l.Epoch < ref.Epoch:
		return NotYet, nil
	case ok && l.Epoch > ref.Epoch:
		return RevokeReplaced, nil
	}
	// Detached at the session's own epoch, or no record at all.
	a, err := v.Account(ref.User)
	if err != nil {
		return "", err
	}
	switch {
	case a == nil:
		return RevokeAccountDeleted, nil
	case ref.CredGen != 0 && a.CredGen != ref.CredGen:
		return RevokePasswordChanged, nil
	case !ok:
		return RevokeReplaced, nil // the device was dropped from the user's devices
	case l.Node == "":
		return RevokeLoggedOut, nil
	}
	return RevokeReplaced, nil
}

// deviceLocation reads the location of one device of user, attached or
// not, from the user's device set (the one place here that knows how
// device records are stored).
func (v *View) deviceLocation(user, device string) (Location, bool, error) {
	var ds deviceSet
	if _, err := v.st.getRec(devicesKey(user), &ds); err != nil {
		return Location{}, false, err
	}
	d := ds.find(device)
	if d == nil {
		return Location{}, false, nil
	}
	return d.location(), true, nil
}
