package hlr

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sort"
	"testing"

	"github.com/cockroachdb/pebble"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/roamhq/roam/hlr/keyspace"
)

// checkInvariants reads every state-machine key of partition pid and
// checks that the indexes are exact and the per-user bounds hold:
//
//   - the attached list ('L') holds exactly the devices of the device set
//     ('v') that have a node, with the same values;
//   - no user has more than maxDevices devices (0: no check), and the
//     set is sorted by device id without repeats;
//   - every session is listed under its device in the set, has its expiry
//     entry, and no device has more than one; every token a device lists
//     and every expiry entry has its session;
//   - every cursor belongs to a device in the set;
//   - the block count is the number of blocked edges;
//   - nothing is stored for a user without an account.
func checkInvariants(t testing.TB, db *pebble.DB, pid uint16, maxDevices int) {
	t.Helper()
	if err := invariants(db, pid, maxDevices); err != nil {
		t.Fatal(err)
	}
}

func invariants(db *pebble.DB, pid uint16, maxDevices int) error {
	prefix := keyspace.Partition(pid, keyspace.KindFSM)
	type userState struct {
		account  bool
		devices  *deviceSet
		attached []Location
		sessions map[string]Session // by hash
		sessExp  map[string]bool    // exp(8) hash
		cursors  []string
		blocked  uint64
		count    uint64
	}
	users := map[string]*userState{}
	u := func(name string) *userState {
		s := users[name]
		if s == nil {
			s = &userState{devices: &deviceSet{}, sessions: map[string]Session{}, sessExp: map[string]bool{}}
			users[name] = s
		}
		return s
	}
	split := func(b []byte) (string, []byte, error) {
		i := bytes.IndexByte(b, 0)
		if i < 0 {
			return "", nil, fmt.Errorf("key %q has no separator", b)
		}
		return string(b[:i]), b[i+1:], nil
	}
	lo, hi := keyspace.Range(pid, keyspace.KindFSM)
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		sub := append([]byte(nil), it.Key()[len(prefix):]...)
		val := it.Value()
		kind, rest := sub[0], sub[1:]
		switch kind {
		case skAccount:
			u(string(rest)).account = true
		case skDevices:
			if err := msgpack.Unmarshal(val, u(string(rest)).devices); err != nil {
				return err
			}
		case skAttached:
			if err := msgpack.Unmarshal(val, &u(string(rest)).attached); err != nil {
				return err
			}
			if len(u(string(rest)).attached) == 0 {
				return fmt.Errorf("empty attached list stored for %q", rest)
			}
		case skCursor, skSession, skEdge, skMessage, skDedup:
			name, tail, err := split(rest)
			if err != nil {
				return err
			}
			s := u(name)
			switch kind {
			case skCursor:
				s.cursors = append(s.cursors, string(tail))
			case skSession:
				var ss Session
				if err := msgpack.Unmarshal(val, &ss); err != nil {
					return err
				}
				s.sessions[string(tail)] = ss
			case skEdge:
				if len(val) == 1 && val[0] == EdgeBlocked {
					s.blocked++
				}
			}
		case skSessExp:
			name, hash, err := split(rest[8:])
			if err != nil {
				return err
			}
			u(name).sessExp[string(rest[:8])+string(hash)] = true
		case skBlocks:
			u(string(rest)).count = binary.BigEndian.Uint64(val)
		case skHead:
			u(string(rest))
		case skLocation:
			return fmt.Errorf("retired key kind written: %q", sub)
		}
	}
	names := make([]string, 0, len(users))
	for n := range users {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		s := users[name]
		if !s.account {
			return fmt.Errorf("user %q has state but no account", name)
		}
		devs := s.devices.Devices
		if maxDevices > 0 && len(devs) > maxDevices {
			return fmt.Errorf("user %q has %d devices, bound %d", name, len(devs), maxDevices)
		}
		tokens := map[string]string{} // hash → device
		for i, d := range devs {
			if i > 0 && devs[i-1].Device >= d.Device {
				return fmt.Errorf("user %q: device set not sorted: %q then %q", name, devs[i-1].Device, d.Device)
			}
			if len(d.Tokens) > 1 {
				return fmt.Errorf("user %q: device %q has %d sessions", name, d.Device, len(d.Tokens))
			}
			for _, h := range d.Tokens {
				if ss, ok := s.sessions[string(h)]; !ok || ss.Device != d.Device {
					return fmt.Errorf("user %q: device %q lists token %x, whose session is %+v", name, d.Device, h, ss)
				}
				tokens[string(h)] = d.Device
			}
		}
		if fmt.Sprint(s.devices.attached()) != fmt.Sprint(s.attached) {
			return fmt.Errorf("user %q: attached list %v, device set says %v", name, s.attached, s.devices.attached())
		}
		for h, ss := range s.sessions {
			if tokens[h] != ss.Device {
				return fmt.Errorf("user %q: session %x of device %q is not listed under its device", name, h, ss.Device)
			}
			exp := string(binary.BigEndian.AppendUint64(nil, uint64(ss.ExpiresMS)))
			if !s.sessExp[exp+h] {
				return fmt.Errorf("user %q: session %x has no expiry entry", name, h)
			}
		}
		if len(s.sessExp) != len(s.sessions) {
			return fmt.Errorf("user %q: %d sessions, %d expiry entries", name, len(s.sessions), len(s.sessExp))
		}
		for _, d := range s.cursors {
			if s.devices.find(d) == nil {
				return fmt.Errorf("user %q: cursor of device %q, which it does not have", name, d)
			}
		}
		if s.count != s.blocked {
			return fmt.Errorf("user %q: block count %d, %d blocked edges", name, s.count, s.blocked)
		}
	}
	return nil
}
