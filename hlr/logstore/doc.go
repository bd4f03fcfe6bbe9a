// Package logstore keeps the Raft log and the Raft stable store of one
// partition in the node's shared Pebble database.
//
// A node runs one Raft group per partition and one Pebble DB for all of
// them. New(db, pid, Options{}) returns a *Store that implements both
// raft.LogStore and raft.StableStore for partition pid, using the key layout
// of package keyspace:
//
//	'p' pid 'l' index(8, BE)   one log entry
//	'p' pid 's' name           one stable-store key (current term, vote, ...)
//
// Typical use (this is what hlr.Host does):
//
//	store, err := logstore.New(db, pid, logstore.Options{})
//	logs, err := raft.NewLogCache(512, store)
//	r, err := raft.NewRaft(cfg, fsm, logs, store, snaps, trans)
//
// Guarantees and rules raft relies on:
//
//   - StoreLogs writes all entries in one Pebble batch committed with fsync;
//     when it returns nil the entries survive power loss. Set and SetUint64
//     are synced too. The power-loss test in this package proves it on
//     Pebble's strict in-memory file system, and a control run with
//     Options{NoSync: true} (which exists only for that control) shows that
//     the test does detect lost entries.
//   - GetLog of a missing index returns raft.ErrLogNotFound.
//   - Get and GetUint64 of a missing key return an error whose text is
//     exactly "not found" (raft compares the string).
//   - DeleteRange(min, max) deletes both ends, translated to Pebble's
//     end-exclusive range deletion.
//   - FirstIndex and LastIndex are cached and read back with bounded
//     iterators whenever a deletion may have moved them.
//   - Entries are encoded compactly (index, term, type, appended-at, data,
//     extensions) and decoded with every length checked; a damaged entry
//     returns an error wrapping ErrCorrupt.
//
// Drop deletes the partition's log and stable keys when the node stops
// replicating it. Partitions never see each other's keys.
package logstore
