package pki

import "errors"

// Errors of package pki. Verification failures wrap ErrUntrusted.
var (
	// ErrUntrusted means a peer's certificate does not lead to the
	// cluster CA, has expired, lacks the key usage for its role, or names
	// no valid node id.
	ErrUntrusted = errors.New("pki: untrusted certificate")
	// ErrNoNodeID means a certificate carries no roam://node/<id> URI, or
	// more than one, or an invalid id.
	ErrNoNodeID = errors.New("pki: certificate names no valid node id")
	// ErrBadKey means a cluster key or private key is unusable.
	ErrBadKey = errors.New("pki: unusable key")
	// ErrExists means a file would be overwritten without --overwrite.
	ErrExists = errors.New("pki: file exists")

	errNoRand = errors.New("pki: derivation read randomness")
)
