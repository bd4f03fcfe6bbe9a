package node

import (
	"crypto/tls"
	"fmt"

	"github.com/roamhq/roam/node/mux"
	"github.com/roamhq/roam/node/pki"
)

// internalSecurity returns how the internal port authenticates nodes:
// the operator's identity, or one derived from the cluster key for node
// id, or (only when asked) none.
func internalSecurity(cfg *Config, key []byte, id string) (mux.Security, error) {
	switch {
	case cfg.InsecureInternalPlaintext:
		return mux.Security{InsecurePlaintext: true}, nil
	case cfg.InternalIdentity != nil:
		if got := cfg.InternalIdentity.NodeID(); got != id {
			return mux.Security{}, fmt.Errorf("%w: it names node %q, this node is %q", ErrCertNodeID, got, id)
		}
		return mux.Security{Identity: cfg.InternalIdentity}, nil
	}
	ident, err := pki.Derived(key, id)
	if err != nil {
		return mux.Security{}, fmt.Errorf("node: internal certificate: %w", err)
	}
	return mux.Security{Identity: ident}, nil
}

// clientTLS is the server side of the client port: TLS 1.3 only, ALPN
// "roam/1" (a client that offers other protocols only is refused; one
// that offers none is served).
func clientTLS(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		NextProtos:   []string{pki.ClientALPN},
		Certificates: []tls.Certificate{cert},
	}
}
