package mux

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/roamhq/roam/node/pki"
)

// Security says how a mux authenticates the nodes it talks to. Exactly
// one of Identity and InsecurePlaintext must be set.
type Security struct {
	// Identity is this node's certificate and the cluster CA: every
	// connection, in and out, is mutually authenticated TLS 1.3 (ALPN
	// pki.InternalALPN) with a peer whose certificate chains to the CA
	// and names a node id.
	Identity *pki.Identity
	// InsecurePlaintext turns TLS off: anyone who can reach the port
	// is served, as a node. Only for measuring what TLS costs.
	InsecurePlaintext bool
}

func (s Security) validate() error {
	switch {
	case s.Identity == nil && !s.InsecurePlaintext:
		return errors.New("mux: Security needs an Identity (or InsecurePlaintext)")
	case s.Identity != nil && s.InsecurePlaintext:
		return errors.New("mux: Security has both an Identity and InsecurePlaintext")
	}
	return nil
}

// ErrUnauthenticated is returned by Dial when the peer's certificate is
// not trusted (it wraps pki.ErrUntrusted, or the TLS alert the peer sent).
var ErrUnauthenticated = errors.New("mux: peer not authenticated")

// peerConn is a connection after the handshake: reads and writes go
// through TLS (or straight to the socket in plaintext mode), Close closes
// the socket (its tracked owner) without waiting to send close_notify,
// and the peer's verified node id travels with it.
type peerConn struct {
	net.Conn           // *tls.Conn, or the socket in plaintext mode
	owner    io.Closer // the socket, tracked by the mux or a stream layer
	peer     string
	verified bool
}

func (c *peerConn) Close() error { return c.owner.Close() }

func (c *peerConn) peerNodeID() (string, bool) { return c.peer, c.verified }

// identified is implemented by the connections the mux hands out.
type identified interface{ peerNodeID() (string, bool) }

// PeerNodeID returns the node id a connection's peer proved with its
// certificate. verified is false on a mux with InsecurePlaintext (the id
// is then empty: nothing was proved) and for connections that did not come
// from a mux; callers that compare a claimed node id must then refuse
// unless they were told the port is insecure on purpose.
func PeerNodeID(c net.Conn) (id string, verified bool) {
	if p, ok := c.(identified); ok {
		return p.peerNodeID()
	}
	return "", false
}

// serverHandshake authenticates an accepted socket. The caller has set
// its deadline.
func (s Security) serverHandshake(ctx context.Context, raw net.Conn) (*peerConn, error) {
	if s.InsecurePlaintext {
		return &peerConn{Conn: raw, owner: raw}, nil
	}
	tc := tls.Server(raw, s.Identity.ServerTLS())
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, err
	}
	id, err := pki.PeerNodeID(tc.ConnectionState())
	if err != nil {
		return nil, err
	}
	return &peerConn{Conn: tc, owner: raw, peer: id, verified: true}, nil
}

// clientHandshake authenticates a dialled socket within ctx.
func (s Security) clientHandshake(ctx context.Context, raw net.Conn) (*peerConn, error) {
	if s.InsecurePlaintext {
		return &peerConn{Conn: raw, owner: raw}, nil
	}
	tc := tls.Client(raw, s.Identity.ClientTLS())
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	}
	id, err := pki.PeerNodeID(tc.ConnectionState())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	}
	return &peerConn{Conn: tc, owner: raw, peer: id, verified: true}, nil
}
