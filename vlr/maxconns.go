package vlr

// Descriptors kept back from the client port when MaxConns is sized from
// the open-file limit: Pebble's table cache (its default MaxOpenFiles is
// 1000) and WAL, plus the node's internal connections: each partition's
// Raft transport keeps a small pool per peer (64 partitions x 2 peers x 3
// = 384 each way at the defaults), the gate, gossip, admin calls, the
// listeners and log files.
const (
	reservedFDsPebble   = 1000
	reservedFDsInternal = 2048
)

// DefaultMaxConns is the node-wide client connection cap used when
// Config.MaxConns is 0, from the process's soft RLIMIT_NOFILE L (Go raises
// it to the hard limit at start):
//
//	MaxConns = max(L - 3048, L/4)
//
// so that a flood of client connections cannot starve Pebble or Raft of
// descriptors. With L = 20000 it is 16952; with L = 1048576, 1045528. If
// the limit cannot be read (or is unlimited), it is 100000.
func DefaultMaxConns() int {
	l := openFileLimit()
	if l <= 0 || l > 1<<30 {
		return 100000
	}
	return max(l-reservedFDsPebble-reservedFDsInternal, l/4, 1)
}
