package pki

import (
	"crypto/x509"
	"fmt"
	"net/url"
	"time"
)

// InternalALPN is the ALPN protocol of the internal port; ClientALPN that
// of the client port.
const (
	InternalALPN = "roam-internal/1"
	ClientALPN   = "roam/1"
)

// MaxNodeIDLen bounds a node id (the same bound as package node's).
const MaxNodeIDLen = 64

// nodeScheme and nodeHost make the URI SAN roam://node/<id>.
const (
	nodeScheme = "roam"
	nodeHost   = "node"
)

// NodeURI returns the URI SAN that names nodeID: roam://node/<id>.
func NodeURI(nodeID string) *url.URL {
	return &url.URL{Scheme: nodeScheme, Host: nodeHost, Path: "/" + nodeID}
}

// ValidNodeID accepts 1..MaxNodeIDLen letters, digits, '.', '_' and '-'.
func ValidNodeID(id string) error {
	if len(id) == 0 || len(id) > MaxNodeIDLen {
		return fmt.Errorf("%w: node id must be 1..%d characters, got %d", ErrNoNodeID, MaxNodeIDLen, len(id))
	}
	for _, r := range id {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'
		if !ok {
			return fmt.Errorf("%w: node id %q: only letters, digits, '.', '_' and '-' are allowed", ErrNoNodeID, id)
		}
	}
	return nil
}

// NodeID returns the node id a certificate names in its one
// roam://node/<id> URI SAN.
func NodeID(cert *x509.Certificate) (string, error) {
	id := ""
	n := 0
	for _, u := range cert.URIs {
		if u.Scheme != nodeScheme || u.Host != nodeHost {
			continue
		}
		n++
		if len(u.Path) < 2 || u.Path[0] != '/' || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return "", fmt.Errorf("%w: malformed node URI %q", ErrNoNodeID, u.String())
		}
		id = u.Path[1:]
	}
	switch {
	case n == 0:
		return "", ErrNoNodeID
	case n > 1:
		return "", fmt.Errorf("%w: %d node URIs", ErrNoNodeID, n)
	}
	if err := ValidNodeID(id); err != nil {
		return "", err
	}
	return id, nil
}

// VerifyNode checks a peer's certificate chain (leaf first, as TLS hands
// it over) against roots at time now, for the given extended key usage
// (x509.ExtKeyUsageClientAuth for a dialling peer, ServerAuth for an
// accepting one), and returns the node id the leaf names. Host names are
// not checked.
func VerifyNode(roots *x509.CertPool, chain []*x509.Certificate, usage x509.ExtKeyUsage, now time.Time) (string, error) {
	if len(chain) == 0 {
		return "", fmt.Errorf("%w: no certificate", ErrUntrusted)
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	leaf := chain[0]
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
		return "", fmt.Errorf("%w: %v", ErrUntrusted, err)
	}
	id, err := NodeID(leaf)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrUntrusted, err)
	}
	return id, nil
}
