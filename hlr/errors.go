package hlr

import "errors"

// Errors returned by the hlr package.
var (
	// ErrNotLeader means this node does not lead the partition; the caller
	// should retry at the leader (see Partition.Leader).
	ErrNotLeader = errors.New("hlr: not the leader")
	// ErrUnknownPartition means the partition is not hosted on this node.
	ErrUnknownPartition = errors.New("hlr: partition not hosted here")
	// ErrClosed means the host or partition has been shut down.
	ErrClosed = errors.New("hlr: closed")
	// ErrBadEntry means a Raft entry or snapshot could not be decoded.
	ErrBadEntry = errors.New("hlr: malformed entry")
	// ErrTooLarge means a command would not fit in one Raft entry.
	ErrTooLarge = errors.New("hlr: command too large")
	// ErrTimeout means the operation did not finish before its deadline.
	ErrTimeout = errors.New("hlr: timeout")
)
