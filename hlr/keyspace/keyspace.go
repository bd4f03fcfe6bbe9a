// Package keyspace defines the layout of every key roam writes to a node's
// single Pebble database.
//
// One Pebble DB per node holds the Raft logs, the Raft stable stores and the
// state machines of every partition that node replicates, plus a little
// node-level metadata. Keys are prefixed so that each partition's data of each
// kind is one contiguous range that can be iterated with bounds or cleared
// with a single range deletion:
//
//	'n' name...                      node metadata (cluster id, node id, ...)
//	'p' pid(2, BE) 'l' index(8, BE)  Raft log entry of partition pid
//	'p' pid(2, BE) 's' key...        Raft stable-store key of partition pid
//	'p' pid(2, BE) 'f' subkey...     state-machine data of partition pid
//
// Integers are big-endian so that byte order equals numeric order.
package keyspace

import "encoding/binary"

// Top-level prefixes.
const (
	PrefixNode      byte = 'n'
	PrefixPartition byte = 'p'
)

// Kinds of data inside a partition.
const (
	KindLog    byte = 'l'
	KindStable byte = 's'
	KindFSM    byte = 'f'
)

// PartitionPrefixLen is the length of the prefix returned by Partition.
const PartitionPrefixLen = 4

// Partition returns the 4-byte prefix 'p' pid kind.
func Partition(pid uint16, kind byte) []byte {
	return AppendPartition(make([]byte, 0, 16), pid, kind)
}

// AppendPartition appends the 4-byte prefix 'p' pid kind to dst.
func AppendPartition(dst []byte, pid uint16, kind byte) []byte {
	return append(dst, PrefixPartition, byte(pid>>8), byte(pid), kind)
}

// Range returns the half-open range [lo, hi) covering every key with prefix
// 'p' pid kind.
func Range(pid uint16, kind byte) (lo, hi []byte) {
	lo = Partition(pid, kind)
	hi = Partition(pid, kind+1)
	return lo, hi
}

// LogKey returns the key of Raft log entry idx of partition pid.
func LogKey(pid uint16, idx uint64) []byte {
	return AppendLogKey(make([]byte, 0, PartitionPrefixLen+8), pid, idx)
}

// AppendLogKey appends the key of Raft log entry idx of partition pid to dst.
func AppendLogKey(dst []byte, pid uint16, idx uint64) []byte {
	dst = AppendPartition(dst, pid, KindLog)
	return binary.BigEndian.AppendUint64(dst, idx)
}

// LogIndex decodes the index from a key produced by LogKey. ok is false when
// the key is not a log key.
func LogIndex(key []byte) (idx uint64, ok bool) {
	if len(key) != PartitionPrefixLen+8 || key[0] != PrefixPartition || key[3] != KindLog {
		return 0, false
	}
	return binary.BigEndian.Uint64(key[PartitionPrefixLen:]), true
}

// StableKey returns the stable-store key for name in partition pid.
func StableKey(pid uint16, name []byte) []byte {
	k := make([]byte, 0, PartitionPrefixLen+len(name))
	k = AppendPartition(k, pid, KindStable)
	return append(k, name...)
}

// FSMKey returns the state-machine key for sub in partition pid.
func FSMKey(pid uint16, sub []byte) []byte {
	k := make([]byte, 0, PartitionPrefixLen+len(sub))
	k = AppendPartition(k, pid, KindFSM)
	return append(k, sub...)
}

// NodeKey returns the key of node-level metadata name.
func NodeKey(name string) []byte {
	k := make([]byte, 0, 1+len(name))
	k = append(k, PrefixNode)
	return append(k, name...)
}
