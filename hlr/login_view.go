package hlr

// LoginView is what a login or resume needs of the home register right
// after its command: the user's friend list and the device's cursor, and
// whether the session is still the device's. The leader reads it from
// the state its command left, in the same call, so the visitor register
// does not make two more round trips (a friends read and a session-bound
// cursor read) before the session can start. It is as of just after the
// command's commit: a later revocation is seen by the session's lease
// renewals, as for any session.
type LoginView struct {
	Friends *FriendSet `msgpack:"f"`
	Cursor  uint64     `msgpack:"c,omitempty"`
	// Revoked is the reason the session is no longer valid ("" when it
	// is), as a session-bound read would answer.
	Revoked string `msgpack:"r,omitempty"`
}

// loginView reads the LoginView of a login or resume that res answered
// OK, at this node; nil when the read fails (the caller asks again).
func (p *Partition) loginView(cmd Cmd, res Result) *LoginView {
	v := p.fsm.Reader()
	defer v.Close()
	lv := &LoginView{}
	var err error
	lv.Revoked, err = v.SessionState(cmd.Node, SessionRef{User: cmd.User, Device: cmd.Device, Epoch: res.Epoch, CredGen: res.CredGen})
	if err != nil {
		return nil
	}
	if lv.Revoked != "" {
		return lv
	}
	if lv.Friends, err = v.Friends(cmd.User); err != nil {
		return nil
	}
	if lv.Cursor, err = v.Cursor(cmd.User, cmd.Device); err != nil {
		return nil
	}
	return lv
}
