package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Identity is what a node presents and trusts on the internal port: its
// node id, its certificate and key, and the cluster CA. In derived mode
// it holds the CA key too and renews its certificate before it expires.
// It is safe for concurrent use.
type Identity struct {
	nodeID string
	ca     *x509.Certificate
	roots  *x509.CertPool
	issuer *CA // derived mode: renews the certificate; nil in operator mode

	mu   sync.Mutex
	cert *tls.Certificate
}

// Derived returns the identity of node nodeID in a derived-mode cluster:
// the CA of DeriveCA(clusterKey) and a fresh certificate from it.
func Derived(clusterKey []byte, nodeID string) (*Identity, error) {
	ca, err := DeriveCA(clusterKey)
	if err != nil {
		return nil, err
	}
	return FromCA(ca, nodeID)
}

// FromCA returns an identity for nodeID that issues its own certificates
// from ca (which must hold its key), renewing them before they expire.
func FromCA(ca *CA, nodeID string) (*Identity, error) {
	cert, err := IssueNode(ca, nodeID, nil, DerivedLifetime)
	if err != nil {
		return nil, err
	}
	return &Identity{nodeID: nodeID, ca: ca.Cert, roots: ca.Pool(), issuer: ca, cert: &cert}, nil
}

// NewIdentity returns an operator-mode identity: the node presents cert
// (whose Leaf may be unset) and trusts only ca. The certificate must
// chain to ca, be valid now for both client and server authentication,
// and name a node id.
func NewIdentity(ca *x509.Certificate, cert tls.Certificate) (*Identity, error) {
	if len(cert.Certificate) == 0 {
		return nil, errors.New("pki: empty node certificate")
	}
	if cert.Leaf == nil {
		leaf, err := x509.ParseCertificate(cert.Certificate[0])
		if err != nil {
			return nil, fmt.Errorf("pki: node certificate: %w", err)
		}
		cert.Leaf = leaf
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	chain, err := parseChain(cert.Certificate)
	if err != nil {
		return nil, err
	}
	var id string
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth} {
		if id, err = VerifyNode(pool, chain, usage, time.Now()); err != nil {
			return nil, fmt.Errorf("node certificate against the CA: %w", err)
		}
	}
	return &Identity{nodeID: id, ca: ca, roots: pool, cert: &cert}, nil
}

// NodeID returns the node id the identity's certificate names.
func (id *Identity) NodeID() string { return id.nodeID }

// CA returns the certificate of the CA the identity trusts.
func (id *Identity) CA() *x509.Certificate { return id.ca }

// Derived reports whether the identity issues its own certificates
// (derived mode).
func (id *Identity) Derived() bool { return id.issuer != nil }

// Certificate returns the certificate the identity presents now, renewed
// first in derived mode if more than half of its lifetime has passed.
func (id *Identity) Certificate() (*tls.Certificate, error) {
	id.mu.Lock()
	defer id.mu.Unlock()
	if id.issuer != nil {
		leaf := id.cert.Leaf
		half := leaf.NotAfter.Sub(leaf.NotBefore) / 2
		if time.Now().After(leaf.NotBefore.Add(half)) {
			c, err := IssueNode(id.issuer, id.nodeID, nil, DerivedLifetime)
			if err != nil {
				return nil, err
			}
			id.cert = &c
		}
	}
	return id.cert, nil
}

// ServerTLS is the configuration of the accepting side of the internal
// port: TLS 1.3, ALPN InternalALPN, and a client certificate from the
// cluster CA naming a node id, or no handshake.
func (id *Identity) ServerTLS() *tls.Config {
	return &tls.Config{
		MinVersion:             tls.VersionTLS13,
		NextProtos:             []string{InternalALPN},
		GetCertificate:         func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return id.Certificate() },
		ClientAuth:             tls.RequireAnyClientCert, // verified by VerifyConnection
		SessionTicketsDisabled: true,                     // every connection shows its certificate
		VerifyConnection:       func(cs tls.ConnectionState) error { return id.verifyPeer(cs, x509.ExtKeyUsageClientAuth) },
	}
}

// ClientTLS is the configuration of the dialling side of the internal
// port: TLS 1.3, ALPN InternalALPN, this node's certificate, and a server
// certificate from the cluster CA naming a node id. The server's host
// name is not checked (nodes dial IP addresses; the node id is the
// identity).
func (id *Identity) ClientTLS() *tls.Config {
	return &tls.Config{
		MinVersion:           tls.VersionTLS13,
		NextProtos:           []string{InternalALPN},
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return id.Certificate() },
		// The standard verification checks host names, which nodes do
		// not have; VerifyConnection checks the chain and the node id
		// instead, and runs whatever InsecureSkipVerify says.
		InsecureSkipVerify: true,
		VerifyConnection:   func(cs tls.ConnectionState) error { return id.verifyPeer(cs, x509.ExtKeyUsageServerAuth) },
	}
}

func (id *Identity) verifyPeer(cs tls.ConnectionState, usage x509.ExtKeyUsage) error {
	if cs.Version != tls.VersionTLS13 {
		return fmt.Errorf("%w: TLS version %#x", ErrUntrusted, cs.Version)
	}
	if cs.NegotiatedProtocol != InternalALPN {
		return fmt.Errorf("%w: ALPN %q, want %q", ErrUntrusted, cs.NegotiatedProtocol, InternalALPN)
	}
	_, err := VerifyNode(id.roots, cs.PeerCertificates, usage, time.Now())
	return err
}

// PeerNodeID returns the node id of the peer of a completed handshake
// that one of the identity's configurations verified.
func PeerNodeID(cs tls.ConnectionState) (string, error) {
	if !cs.HandshakeComplete || len(cs.PeerCertificates) == 0 {
		return "", fmt.Errorf("%w: no verified peer certificate", ErrUntrusted)
	}
	return NodeID(cs.PeerCertificates[0])
}

func parseChain(ders [][]byte) ([]*x509.Certificate, error) {
	out := make([]*x509.Certificate, 0, len(ders))
	for _, d := range ders {
		c, err := x509.ParseCertificate(d)
		if err != nil {
			return nil, fmt.Errorf("pki: certificate: %w", err)
		}
		out = append(out, c)
	}
	return out, nil
}
