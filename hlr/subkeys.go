package hlr

import "encoding/binary"

// State-machine sub-keys (appended after keyspace.FSMKey's 'p' pid 'f'
// prefix). User names and device ids never contain 0x00, so 0x00 separates
// variable-length parts and keeps prefix scans exact.
const (
	skMeta     byte = 0x01 // partMeta
	skAccount  byte = 'a'  // 'a' user → Account
	skSession  byte = 's'  // 's' user 0 tokenhash → Session
	skSessExp  byte = 'S'  // 'S' expires(8) user 0 tokenhash → nil
	skLocation byte = 'l'  // retired ('l' user 0 device → Location); never reuse
	skEdge     byte = 'e'  // 'e' user 0 peer → state byte
	skHead     byte = 'h'  // 'h' user → inboxHead
	skMessage  byte = 'm'  // 'm' user 0 seq(8) → Message
	skCursor   byte = 'c'  // 'c' user 0 device → seq(8)
	skDedup    byte = 'd'  // 'd' user 0 sender 0 device 0 cmid(8) → dedupRecord
	skExpiry   byte = 'x'  // 'x' expires(8) user 0 seq(8) → dedup suffix (sender 0 device 0 cmid)
	skOutbox   byte = 'o'  // 'o' id(8) → outboxItem
	skDevices  byte = 'v'  // 'v' user → deviceSet: every device of user (bounded)
	skAttached byte = 'L'  // 'L' user → []Location: the attached devices only, kept with 'v'
	skBlocks   byte = 'b'  // 'b' user → count(8) of the users user blocked
	// Groups (group.go). A group's stream uses 'h', 'm', 'd' and 'x' with
	// the group key "g/" name in place of a user name.
	skGroup       byte = 'G' // 'G' gkey → Group
	skMember      byte = 'M' // 'M' gkey 0 user → Member
	skInvite      byte = 'I' // 'I' gkey 0 user → groupInvite
	skGroupCursor byte = 'C' // 'C' gkey 0 user 0 device → seq(8)
	skUserGroup   byte = 'y' // 'y' user 0 group name → UserGroup (in the user's partition)
	skFormer      byte = 'X' // 'X' gkey 0 user → formerMember: the last membership of a user who left or was kicked
	// Scheduled messages (schedule.go), in the sender's partition.
	skSched       byte = 'k' // 'k' user 0 id(8) → Schedule
	skSchedAction byte = 'K' // 'K' at(8) user 0 id(8) → nil: the partition's action index
	skSchedList   byte = 'j' // 'j' user 0 fire(8) id(8) → nil: the user's list by fire time
	skSchedConv   byte = 'n' // 'n' user 0 conv → count(8) of pending schedules to conv
	skSchedUser   byte = 'N' // 'N' user → count(8) of pending schedules
	skSchedDedup  byte = 'z' // 'z' user 0 device 0 cmid(8) → id(8): the create of a schedule
	// Roles (role.go): the role records and fences in the account's
	// partition, the claims in the partition of the role's key.
	skRole      byte = 'r' // 'r' user 0 ns 0 name → Role
	skRoleFence byte = 'f' // 'f' user 0 ns 0 name → id(8): no link of a claim up to id applies (a reclaim)
	skRoleClaim byte = 'R' // 'R' ns 0 name → RoleClaim
)

func sk(kind byte, parts ...string) []byte {
	n := 1
	for _, p := range parts {
		n += len(p) + 1
	}
	b := make([]byte, 0, n+16)
	b = append(b, kind)
	for i, p := range parts {
		if i > 0 {
			b = append(b, 0)
		}
		b = append(b, p...)
	}
	return b
}

func skUserPrefix(kind byte, user string) []byte {
	b := sk(kind, user)
	return append(b, 0)
}

func accountKey(user string) []byte { return sk(skAccount, user) }

func sessionKey(user string, hash []byte) []byte {
	return append(skUserPrefix(skSession, user), hash...)
}

func sessionExpiryKey(exp int64, user string, hash []byte) []byte {
	b := make([]byte, 0, 1+8+len(user)+1+len(hash))
	b = append(b, skSessExp)
	b = binary.BigEndian.AppendUint64(b, uint64(exp))
	b = append(b, user...)
	b = append(b, 0)
	return append(b, hash...)
}

func devicesKey(user string) []byte { return sk(skDevices, user) }

func attachedKey(user string) []byte { return sk(skAttached, user) }

func blockCountKey(user string) []byte { return sk(skBlocks, user) }

func edgeKey(user, peer string) []byte { return sk(skEdge, user, peer) }

func headKey(user string) []byte { return sk(skHead, user) }

func messageKey(user string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(skUserPrefix(skMessage, user), seq)
}

func cursorKey(user, device string) []byte { return sk(skCursor, user, device) }

// dedupSuffix is sender 0 device 0 cmid(8).
func dedupSuffix(sender, device string, cmid uint64) []byte {
	b := make([]byte, 0, len(sender)+len(device)+10)
	b = append(b, sender...)
	b = append(b, 0)
	b = append(b, device...)
	b = append(b, 0)
	return binary.BigEndian.AppendUint64(b, cmid)
}

func dedupKey(user string, suffix []byte) []byte {
	return append(skUserPrefix(skDedup, user), suffix...)
}

func expiryKey(exp int64, user string, seq uint64) []byte {
	b := make([]byte, 0, 1+8+len(user)+1+8)
	b = append(b, skExpiry)
	b = binary.BigEndian.AppendUint64(b, uint64(exp))
	b = append(b, user...)
	b = append(b, 0)
	return binary.BigEndian.AppendUint64(b, seq)
}

func outboxKey(id uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{skOutbox}, id)
}

// prefixEnd returns the smallest key greater than every key with prefix p.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil // no upper bound
}
