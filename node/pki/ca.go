package pki

import (
	"crypto"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"fmt"
	"math/big"
	"time"
)

// deriveInfo is the HKDF info string of the derived CA key. Changing it
// changes every derived cluster's CA: it is fixed forever (a new scheme
// gets a new string).
const deriveInfo = "roam internal CA v1"

// The derived CA certificate's fixed fields: every node must build the
// same bytes from the same key.
var (
	derivedNotBefore = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	derivedNotAfter  = time.Date(2125, 1, 1, 0, 0, 0, 0, time.UTC)
)

// CA is a certificate authority: its certificate and, when this process
// may issue certificates, its private key.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer // nil if the CA can only verify
}

// DeriveCA builds the certificate authority of a derived-mode cluster
// from its cluster key. The same key always gives byte-identical CA
// certificates; another key gives another CA.
func DeriveCA(clusterKey []byte) (*CA, error) {
	if len(clusterKey) < 16 {
		return nil, fmt.Errorf("%w: cluster key of %d bytes", ErrBadKey, len(clusterKey))
	}
	seed, err := hkdf.Key(sha256.New, clusterKey, nil, deriveInfo, ed25519.SeedSize)
	if err != nil {
		return nil, fmt.Errorf("pki: derive CA key: %w", err)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	pub := priv.Public().(ed25519.PublicKey)
	skid := keyID(pub)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{Organization: []string{"roam"}, CommonName: "roam cluster CA " + hex.EncodeToString(skid[:4])},
		NotBefore:             derivedNotBefore,
		NotAfter:              derivedNotAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		SubjectKeyId:          skid,
	}
	// Ed25519 signs deterministically and the serial is fixed, so the
	// random source is never read; noRand makes sure of it.
	der, err := x509.CreateCertificate(noRand{}, tmpl, tmpl, pub, priv)
	if err != nil {
		return nil, fmt.Errorf("pki: derive CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: derive CA certificate: %w", err)
	}
	return &CA{Cert: cert, Key: priv}, nil
}

// NewCA makes an operator's certificate authority with a fresh random
// Ed25519 key, valid from now for lifetime.
func NewCA(commonName string, lifetime time.Duration) (*CA, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki: CA key: %w", err)
	}
	if commonName == "" {
		commonName = "roam operator CA"
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{Organization: []string{"roam"}, CommonName: commonName},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(lifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		SubjectKeyId:          keyID(pub),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		return nil, fmt.Errorf("pki: CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: CA certificate: %w", err)
	}
	return &CA{Cert: cert, Key: priv}, nil
}

// Pool returns a certificate pool holding only the CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// keyID is the subject key id of pub: the first 20 bytes of its SHA-256.
func keyID(pub ed25519.PublicKey) []byte {
	h := sha256.Sum256(pub)
	return h[:20]
}

// randomSerial returns a positive 128-bit serial number.
func randomSerial() *big.Int {
	var b [16]byte
	rand.Read(b[:])
	b[0] &= 0x7f
	b[0] |= 0x01 // never zero
	return new(big.Int).SetBytes(b[:])
}

// noRand fails every read: derivation must not depend on randomness.
type noRand struct{}

func (noRand) Read([]byte) (int, error) { return 0, errNoRand }
