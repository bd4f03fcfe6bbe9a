package hlr

import "encoding/binary"

// Schedule returns schedule id of user, or nil.
func (v *View) Schedule(user string, id uint64) (*Schedule, error) {
	var s Schedule
	ok, err := v.st.getRec(schedKey(user, id), &s)
	if err != nil || !ok {
		return nil, err
	}
	return &s, nil
}

// Schedules returns up to limit of user's schedules in fire time order
// (ties by id) after the position (afterMS, afterID), and whether more
// follow. (0, 0) starts at the beginning.
func (v *View) Schedules(user string, afterMS int64, afterID uint64, limit int) ([]Schedule, bool, error) {
	if limit <= 0 || limit > MaxSchedPage {
		limit = MaxSchedPage
	}
	p := skUserPrefix(skSchedList, user)
	from := p
	if afterMS != 0 || afterID != 0 {
		from = append(schedListKey(user, afterMS, afterID), 0) // just after it
	}
	var ids []uint64
	more := false
	err := v.st.scanFrom(p, from, func(sub, _ []byte) (bool, error) {
		if len(sub) != len(p)+16 {
			return true, nil
		}
		if len(ids) == limit {
			more = true
			return false, nil
		}
		ids = append(ids, binary.BigEndian.Uint64(sub[len(p)+8:]))
		return true, nil
	})
	if err != nil {
		return nil, false, err
	}
	out := make([]Schedule, 0, len(ids))
	for _, id := range ids {
		s, err := v.Schedule(user, id)
		if err != nil {
			return nil, false, err
		}
		if s != nil {
			out = append(out, *s)
		}
	}
	return out, more, nil
}

// SchedAction is one entry of a partition's action index: schedule ID of
// User needs the leader's attention at AtMS (to fire, or to be forgotten).
type SchedAction struct {
	AtMS int64
	User string
	ID   uint64
}

// SchedActions calls fn for the entries of the action index in time
// order, until fn returns false.
func (v *View) SchedActions(fn func(SchedAction) bool) error {
	return v.st.scan([]byte{skSchedAction}, func(sub, _ []byte) (bool, error) {
		at, user, id, ok := parseSchedAction(sub)
		if !ok {
			return true, nil
		}
		return fn(SchedAction{AtMS: at, User: user, ID: id}), nil
	})
}
