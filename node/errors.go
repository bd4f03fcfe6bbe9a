package node

import "errors"

// Errors returned by the node package.
var (
	// ErrPartitionsMismatch means Config.Partitions differs from the
	// partition count the data directory was created with.
	ErrPartitionsMismatch = errors.New("node: partition count differs from the stored one")
	// ErrNodeIDMismatch means Config.NodeID differs from the id stored in
	// the data directory.
	ErrNodeIDMismatch = errors.New("node: node id differs from the stored one")
	// ErrNotReady means WaitReady gave up before every partition had a
	// leader.
	ErrNotReady = errors.New("node: not ready")
	// ErrClusterKeyMismatch means Config.ClusterKey differs from the key
	// stored in the data directory.
	ErrClusterKeyMismatch = errors.New("node: cluster key differs from the stored one")
	// ErrNoClusterKey means a node was asked to join a cluster without the
	// cluster's key.
	ErrNoClusterKey = errors.New("node: joining a cluster needs its ClusterKey")
	// ErrCertNodeID means the operator's internal certificate
	// (Config.InternalIdentity) names another node than Config.NodeID.
	ErrCertNodeID = errors.New("node: the internal certificate is for another node")
	// ErrPlaintextClients means the client port would serve plaintext on
	// an address that is not loopback without being told to.
	ErrPlaintextClients = errors.New("node: refusing plaintext clients on a non-loopback address")
)
