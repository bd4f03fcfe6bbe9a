package gossip

import "errors"

// Errors returned by this package. Compare with errors.Is: most are wrapped
// with detail.
var (
	// ErrWrongCluster: a seed answered with cluster parameters whose
	// ClusterID differs from this node's (configured or already learned).
	ErrWrongCluster = errors.New("gossip: seed belongs to a different cluster")
	// ErrShutdown: the Gossip has been shut down.
	ErrShutdown = errors.New("gossip: shut down")
	// ErrLeft: Leave was called; memberlist cannot rejoin after a leave, so
	// a new Gossip must be created.
	ErrLeft = errors.New("gossip: node has left the cluster")
	// ErrInvalidConfig: Config.Validate failed.
	ErrInvalidConfig = errors.New("gossip: invalid config")
	// ErrMetaTooLarge: the encoded Meta is larger than MaxMetaSize.
	ErrMetaTooLarge = errors.New("gossip: encoded meta too large")
	// errBadEncoding: a peer sent meta or params this package cannot decode.
	errBadEncoding = errors.New("gossip: malformed encoding")
)
