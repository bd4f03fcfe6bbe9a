package pki

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"
)

// DerivedLifetime is the validity of the node certificates a node issues
// itself in derived mode. A node renews its certificate in memory at half
// of it, so a running node never presents an expired one.
const DerivedLifetime = 24 * time.Hour

// clockSkew backdates every new certificate, so that a peer whose clock
// is a little behind accepts it.
const clockSkew = time.Hour

// IssueNode makes a fresh Ed25519 key and a certificate for nodeID signed
// by ca, valid for lifetime, usable for both server and client
// authentication. hosts become DNS or IP SANs (so the certificate can
// also serve the client port); the node id is the URI SAN
// roam://node/<id> and the common name.
func IssueNode(ca *CA, nodeID string, hosts []string, lifetime time.Duration) (tls.Certificate, error) {
	now := time.Now()
	return issue(ca, nodeID, hosts, now.Add(-clockSkew), now.Add(lifetime),
		[]x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth})
}

func issue(ca *CA, nodeID string, hosts []string, notBefore, notAfter time.Time, usage []x509.ExtKeyUsage) (tls.Certificate, error) {
	if ca == nil || ca.Key == nil {
		return tls.Certificate{}, errors.New("pki: the CA has no private key here: it cannot issue certificates")
	}
	if err := ValidNodeID(nodeID); err != nil {
		return tls.Certificate{}, err
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: node key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{Organization: []string{"roam"}, CommonName: nodeID},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  usage,
		URIs:         []*url.URL{NodeURI(nodeID)},
		SubjectKeyId: keyID(pub),
	}
	for _, h := range hosts {
		if h == "" {
			continue
		}
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.Key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: node certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: node certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv, Leaf: leaf}, nil
}
