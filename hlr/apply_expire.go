package hlr

import (
	"bytes"
	"encoding/binary"
)

// defaultExpireLimit bounds the work of one OpExpire command.
const defaultExpireLimit = 1000

// applyExpire removes messages (with their dedup entries) and sessions whose
// expiry is at or before the state-machine clock. It does at most c.Limit
// deletions and sets More when it stopped early.
func applyExpire(t *txn, c *Cmd) (Result, error) {
	limit := c.Limit
	if limit <= 0 {
		limit = defaultExpireLimit
	}
	type msgRef struct {
		user   string
		seq    uint64
		suffix []byte
		key    []byte
	}
	var msgs []msgRef
	more := false
	err := t.scan([]byte{skExpiry}, func(sub, val []byte) (bool, error) {
		exp, user, seq, ok := parseExpiryKey(sub)
		if !ok || exp > t.now {
			return false, nil
		}
		if len(msgs) == limit {
			more = true
			return false, nil
		}
		msgs = append(msgs, msgRef{user, seq, append([]byte(nil), val...), append([]byte(nil), sub...)})
		return true, nil
	})
	if err != nil {
		return Result{}, err
	}
	for _, m := range msgs {
		if err := t.del(messageKey(m.user, m.seq)); err != nil {
			return Result{}, err
		}
		if err := t.del(dedupKey(m.user, m.suffix)); err != nil {
			return Result{}, err
		}
		if err := t.del(m.key); err != nil {
			return Result{}, err
		}
		var h inboxHead
		if _, err := t.getRec(headKey(m.user), &h); err != nil {
			return Result{}, err
		}
		if m.seq > h.Expired {
			h.Expired = m.seq
			if err := t.setRec(headKey(m.user), &h); err != nil {
				return Result{}, err
			}
		}
	}
	budget := limit - len(msgs)
	type sessRef struct {
		user string
		hash []byte
		key  []byte
	}
	var sess []sessRef
	err = t.scan([]byte{skSessExp}, func(sub, _ []byte) (bool, error) {
		if len(sub) < 10 {
			return true, nil
		}
		if int64(binary.BigEndian.Uint64(sub[1:9])) > t.now {
			return false, nil
		}
		if len(sess) >= budget {
			more = true
			return false, nil
		}
		rest := sub[9:]
		i := bytes.IndexByte(rest, 0)
		if i < 0 {
			return true, nil
		}
		sess = append(sess, sessRef{string(rest[:i]), append([]byte(nil), rest[i+1:]...), append([]byte(nil), sub...)})
		return true, nil
	})
	if err != nil {
		return Result{}, err
	}
	for _, s := range sess {
		if err := t.deleteSession(s.user, s.hash); err != nil {
			return Result{}, err
		}
		if err := t.del(s.key); err != nil {
			return Result{}, err
		}
	}
	return Result{More: more}, nil
}

// parseExpiryKey splits 'x' exp(8) user 0 seq(8).
func parseExpiryKey(sub []byte) (exp int64, user string, seq uint64, ok bool) {
	if len(sub) < 1+8+1+8 || sub[0] != skExpiry {
		return 0, "", 0, false
	}
	exp = int64(binary.BigEndian.Uint64(sub[1:9]))
	rest := sub[9:]
	if rest[len(rest)-9] != 0 {
		return 0, "", 0, false
	}
	user = string(rest[:len(rest)-9])
	seq = binary.BigEndian.Uint64(rest[len(rest)-8:])
	return exp, user, seq, true
}
