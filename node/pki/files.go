package pki

import (
	"bytes"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// File names in a certs directory (roamd cert --certs-dir).
const (
	CACertFile   = "ca.crt"
	CAKeyFile    = "ca.key"
	NodeCertFile = "node.crt"
	NodeKeyFile  = "node.key"
)

// WriteCA writes ca's certificate (mode 0644) and key (0600) to
// dir/ca.crt and dir/ca.key. Unless overwrite, it refuses (ErrExists) if
// either exists, and writes neither.
func WriteCA(dir string, ca *CA, overwrite bool) (certPath, keyPath string, err error) {
	if ca.Key == nil {
		return "", "", errors.New("pki: the CA has no private key to write")
	}
	return writePair(dir, CACertFile, CAKeyFile, [][]byte{ca.Cert.Raw}, ca.Key, overwrite)
}

// WriteNode writes a node certificate (0644) and its key (0600) to
// dir/node.crt and dir/node.key, with the same refusal as WriteCA.
func WriteNode(dir string, cert tls.Certificate, overwrite bool) (certPath, keyPath string, err error) {
	key, ok := cert.PrivateKey.(crypto.Signer)
	if !ok {
		return "", "", fmt.Errorf("%w: node key of type %T", ErrBadKey, cert.PrivateKey)
	}
	return writePair(dir, NodeCertFile, NodeKeyFile, cert.Certificate, key, overwrite)
}

func writePair(dir, certName, keyName string, ders [][]byte, key crypto.Signer, overwrite bool) (string, string, error) {
	certPath, keyPath := filepath.Join(dir, certName), filepath.Join(dir, keyName)
	if !overwrite {
		for _, p := range []string{certPath, keyPath} {
			if _, err := os.Lstat(p); err == nil {
				return "", "", fmt.Errorf("%w: %s (use --overwrite to replace it)", ErrExists, p)
			}
		}
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", fmt.Errorf("pki: encode key: %w", err)
	}
	var certPEM bytes.Buffer
	for _, d := range ders {
		pem.Encode(&certPEM, &pem.Block{Type: "CERTIFICATE", Bytes: d})
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", fmt.Errorf("pki: certs dir: %w", err)
	}
	// The key first: a certificate without its key is useless, but a key
	// left behind by a failed write is refused next time, not replaced.
	if err := writeFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600, overwrite); err != nil {
		return "", "", err
	}
	if err := writeFile(certPath, certPEM.Bytes(), 0o644, overwrite); err != nil {
		return "", "", err
	}
	return certPath, keyPath, nil
}

// writeFile writes data with the given mode, which it also sets on a
// file it overwrites.
func writeFile(path string, data []byte, mode os.FileMode, overwrite bool) error {
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if overwrite {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, mode)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%w: %s (use --overwrite to replace it)", ErrExists, path)
	}
	if err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return fmt.Errorf("pki: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	return f.Close()
}

// ReadCertificates parses every CERTIFICATE block of a PEM file.
func ReadCertificates(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	var out []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("pki: %s: %w", path, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("pki: %s holds no PEM certificate", path)
	}
	return out, nil
}

// LoadCA reads a CA certificate and, if keyPath is not empty, its key
// (which must match the certificate).
func LoadCA(certPath, keyPath string) (*CA, error) {
	certs, err := ReadCertificates(certPath)
	if err != nil {
		return nil, err
	}
	ca := &CA{Cert: certs[0]}
	if !ca.Cert.IsCA {
		return nil, fmt.Errorf("pki: %s is not a CA certificate", certPath)
	}
	if keyPath == "" {
		return ca, nil
	}
	data, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%w: %s holds no PEM PRIVATE KEY", ErrBadKey, keyPath)
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadKey, keyPath, err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: %s: key of type %T", ErrBadKey, keyPath, k)
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	if pub, ok := signer.Public().(equaler); !ok || !pub.Equal(ca.Cert.PublicKey) {
		return nil, fmt.Errorf("%w: %s does not belong to %s", ErrBadKey, keyPath, certPath)
	}
	ca.Key = signer
	return ca, nil
}

// LoadIdentity reads an operator-mode identity: the CA certificate the
// cluster trusts, this node's certificate and its key (see NewIdentity
// for what they must satisfy).
func LoadIdentity(caPath, certPath, keyPath string) (*Identity, error) {
	ca, err := LoadCA(caPath, "")
	if err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return nil, fmt.Errorf("pki: %s and %s: %w", certPath, keyPath, err)
	}
	id, err := NewIdentity(ca.Cert, cert)
	if err != nil {
		return nil, fmt.Errorf("pki: %s: %w", certPath, err)
	}
	return id, nil
}
