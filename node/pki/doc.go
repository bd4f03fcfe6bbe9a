// Package pki makes and checks the certificates that authenticate roam
// nodes to each other on the internal port, and the node certificates an
// operator can also serve on the client port.
//
// # Trust modes
//
// Derived (the default). The cluster key is the root of trust: every node
// derives the same certificate authority from it (DeriveCA: HKDF-SHA256
// of the key with a fixed info string gives an Ed25519 seed; the CA
// certificate has a fixed serial, subject and validity, and Ed25519
// signatures are deterministic, so every node builds the same bytes).
// On each start a node makes a fresh Ed25519 key and a short-lived
// certificate for its node id, signed by that CA (IssueNode), and renews
// it in memory before it expires. Whoever holds the cluster key can mint
// a node certificate: the key is the cluster's membership credential.
//
//	id, err := pki.Derived(clusterKey, "n1")
//	srv, cli := id.ServerTLS(), id.ClientTLS() // for the internal port
//
// Operator. The operator runs a CA of their own (roamd cert create-ca),
// issues one certificate per node (roamd cert create-node), and gives each
// node the CA certificate, its certificate and its key (LoadIdentity).
// Then the cluster key only encrypts gossip; a node certificate is what
// admits a node to the internal port, and the CA key never needs to be on
// a node.
//
// # Certificates
//
// A node certificate names its node id twice: as the URI SAN
// roam://node/<id>, which is what NodeID reads, and as the subject common
// name, for people. It is valid for both server and client
// authentication, so the same certificate dials and accepts; its DNS and
// IP SANs (the hosts of create-node) let it serve the client port too.
//
// # Verification
//
// The internal port speaks TLS 1.3 only, with ALPN InternalALPN, and
// both sides present a certificate. A peer's chain must lead to the
// cluster CA (with the extended key usage for its role) and its leaf must
// name a valid node id. Host names are not checked: nodes dial each other
// by IP address, and the node id, not the address, is the identity. The
// verified id is what callers compare with the node id a peer claims in
// its own protocol (see VerifyNode and Identity).
package pki
