package pki

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func key(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func mustCA(t *testing.T, k []byte) *CA {
	t.Helper()
	ca, err := DeriveCA(k)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func mustIssue(t *testing.T, ca *CA, id string) tls.Certificate {
	t.Helper()
	c, err := IssueNode(ca, id, []string{"127.0.0.1", "localhost"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDeriveCA_SameKeyGivesIdenticalBytes(t *testing.T) {
	a, b := mustCA(t, key(1)), mustCA(t, key(1))
	if !bytes.Equal(a.Cert.Raw, b.Cert.Raw) {
		t.Fatal("two derivations from the same key gave different CA certificates")
	}
	if !a.Key.(ed25519.PrivateKey).Equal(b.Key) {
		t.Fatal("two derivations gave different CA keys")
	}
	if !a.Cert.IsCA || a.Cert.SerialNumber.Int64() != 1 || !a.Cert.NotAfter.After(time.Now().AddDate(50, 0, 0)) {
		t.Fatalf("derived CA: ca=%v serial=%v notAfter=%v", a.Cert.IsCA, a.Cert.SerialNumber, a.Cert.NotAfter)
	}
	if err := a.Cert.CheckSignatureFrom(a.Cert); err != nil {
		t.Fatalf("derived CA is not self-signed: %v", err)
	}
	if _, err := DeriveCA(make([]byte, 8)); !errors.Is(err, ErrBadKey) {
		t.Fatalf("short key: %v", err)
	}
}

func TestDeriveCA_OtherKeyGivesOtherCAAndVerificationFails(t *testing.T) {
	ours, theirs := mustCA(t, key(1)), mustCA(t, key(2))
	if bytes.Equal(ours.Cert.Raw, theirs.Cert.Raw) || bytes.Equal(ours.Cert.RawSubjectPublicKeyInfo, theirs.Cert.RawSubjectPublicKeyInfo) {
		t.Fatal("another key gave the same CA")
	}
	foreign := mustIssue(t, theirs, "n1")
	if _, err := VerifyNode(ours.Pool(), []*x509.Certificate{foreign.Leaf}, x509.ExtKeyUsageClientAuth, time.Now()); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("a certificate of another cluster verified: %v", err)
	}
	own := mustIssue(t, ours, "n1")
	if id, err := VerifyNode(ours.Pool(), []*x509.Certificate{own.Leaf}, x509.ExtKeyUsageClientAuth, time.Now()); err != nil || id != "n1" {
		t.Fatalf("own certificate: %q, %v", id, err)
	}
}

func TestIssueNode_NamesNodeIDForBothRoles(t *testing.T) {
	ca := mustCA(t, key(1))
	c := mustIssue(t, ca, "node-7.a_b")
	if id, err := NodeID(c.Leaf); err != nil || id != "node-7.a_b" {
		t.Fatalf("NodeID = %q, %v", id, err)
	}
	if c.Leaf.Subject.CommonName != "node-7.a_b" {
		t.Fatalf("CN = %q", c.Leaf.Subject.CommonName)
	}
	if len(c.Leaf.IPAddresses) != 1 || !c.Leaf.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) || len(c.Leaf.DNSNames) != 1 || c.Leaf.DNSNames[0] != "localhost" {
		t.Fatalf("SANs: %v %v", c.Leaf.IPAddresses, c.Leaf.DNSNames)
	}
	for _, u := range []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth} {
		if _, err := VerifyNode(ca.Pool(), []*x509.Certificate{c.Leaf}, u, time.Now()); err != nil {
			t.Fatalf("usage %v: %v", u, err)
		}
	}
	// The same certificate verifies as a server for its hosts (the
	// client port).
	if _, err := c.Leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "127.0.0.1"}); err != nil {
		t.Fatalf("as a server for 127.0.0.1: %v", err)
	}
	if _, err := IssueNode(ca, "bad id", nil, time.Hour); !errors.Is(err, ErrNoNodeID) {
		t.Fatalf("bad id: %v", err)
	}
	if _, err := IssueNode(&CA{Cert: ca.Cert}, "n1", nil, time.Hour); err == nil {
		t.Fatal("issued without a CA key")
	}
}

func TestVerifyNode_RefusesExpiredWrongUsageSelfSignedAndNoID(t *testing.T) {
	ca := mustCA(t, key(1))
	now := time.Now()
	both := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	expired, err := issue(ca, "n1", nil, now.Add(-48*time.Hour), now.Add(-time.Hour), both)
	if err != nil {
		t.Fatal(err)
	}
	future, _ := issue(ca, "n1", nil, now.Add(time.Hour), now.Add(48*time.Hour), both)
	serverOnly, _ := issue(ca, "n1", nil, now.Add(-time.Hour), now.Add(time.Hour), []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth})
	clientOnly, _ := issue(ca, "n1", nil, now.Add(-time.Hour), now.Add(time.Hour), []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth})

	// A self-signed leaf that claims a node id.
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(9), Subject: pkix.Name{CommonName: "n1"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: both, URIs: []*url.URL{NodeURI("n1")}}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	selfSigned, _ := x509.ParseCertificate(der)

	// Signed by the CA but naming no node, or two.
	noID := signRaw(t, ca, func(c *x509.Certificate) { c.URIs = nil })
	twoIDs := signRaw(t, ca, func(c *x509.Certificate) { c.URIs = []*url.URL{NodeURI("n1"), NodeURI("n2")} })
	badID := signRaw(t, ca, func(c *x509.Certificate) { c.URIs = []*url.URL{{Scheme: "roam", Host: "node", Path: "/a b"}} })

	cases := map[string]struct {
		cert  *x509.Certificate
		usage x509.ExtKeyUsage
	}{
		"expired":                 {expired.Leaf, x509.ExtKeyUsageClientAuth},
		"not yet valid":           {future.Leaf, x509.ExtKeyUsageClientAuth},
		"server-only as a client": {serverOnly.Leaf, x509.ExtKeyUsageClientAuth},
		"client-only as a server": {clientOnly.Leaf, x509.ExtKeyUsageServerAuth},
		"self-signed":             {selfSigned, x509.ExtKeyUsageClientAuth},
		"no node id":              {noID, x509.ExtKeyUsageClientAuth},
		"two node ids":            {twoIDs, x509.ExtKeyUsageClientAuth},
		"invalid node id":         {badID, x509.ExtKeyUsageClientAuth},
	}
	for name, tc := range cases {
		if id, err := VerifyNode(ca.Pool(), []*x509.Certificate{tc.cert}, tc.usage, now); !errors.Is(err, ErrUntrusted) {
			t.Errorf("%s: verified as %q (%v)", name, id, err)
		}
	}
	if _, err := VerifyNode(ca.Pool(), nil, x509.ExtKeyUsageClientAuth, now); !errors.Is(err, ErrUntrusted) {
		t.Errorf("empty chain: %v", err)
	}
}

// signRaw issues a CA-signed leaf for n1 after mod adjusts its template.
func signRaw(t *testing.T, ca *CA, mod func(*x509.Certificate)) *x509.Certificate {
	t.Helper()
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(5), Subject: pkix.Name{CommonName: "n1"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		URIs: []*url.URL{NodeURI("n1")}}
	mod(tmpl)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestOperatorFiles_RoundTrip(t *testing.T) {
	dir := t.TempDir()
	ca, err := NewCA("", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	caCrt, caKey, err := WriteCA(dir, ca, false)
	if err != nil {
		t.Fatal(err)
	}
	mode(t, caKey, 0o600)
	mode(t, caCrt, 0o644)
	if _, _, err := WriteCA(dir, ca, false); !errors.Is(err, ErrExists) {
		t.Fatalf("second WriteCA without overwrite: %v", err)
	}
	os.Chmod(caKey, 0o644)
	if _, _, err := WriteCA(dir, ca, true); err != nil {
		t.Fatalf("overwrite: %v", err)
	}
	mode(t, caKey, 0o600) // an overwritten key is 0600 again

	loaded, err := LoadCA(caCrt, caKey)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(loaded.Cert.Raw, ca.Cert.Raw) {
		t.Fatal("CA certificate changed on the round trip")
	}
	cert, err := IssueNode(loaded, "n3", []string{"10.0.0.3", "n3.example"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	nodeDir := filepath.Join(dir, "n3")
	nodeCrt, nodeKey, err := WriteNode(nodeDir, cert, false)
	if err != nil {
		t.Fatal(err)
	}
	mode(t, nodeKey, 0o600)
	if _, _, err := WriteNode(nodeDir, cert, false); !errors.Is(err, ErrExists) {
		t.Fatalf("second WriteNode: %v", err)
	}
	id, err := LoadIdentity(caCrt, nodeCrt, nodeKey)
	if err != nil {
		t.Fatal(err)
	}
	if id.NodeID() != "n3" || id.Derived() {
		t.Fatalf("identity %q derived=%v", id.NodeID(), id.Derived())
	}

	// A node certificate from another CA is refused at load time.
	other, _ := NewCA("other", time.Hour)
	otherDir := filepath.Join(dir, "other")
	oc, _ := IssueNode(other, "n3", nil, time.Hour)
	otherCrt, otherKey, err := WriteNode(otherDir, oc, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadIdentity(caCrt, otherCrt, otherKey); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("foreign node certificate loaded: %v", err)
	}
	// A CA key that does not match its certificate is refused.
	otherCAdir := filepath.Join(dir, "otherca")
	_, otherCAKey, _ := WriteCA(otherCAdir, other, false)
	if _, err := LoadCA(caCrt, otherCAKey); !errors.Is(err, ErrBadKey) {
		t.Fatalf("mismatched CA key: %v", err)
	}
	// A node certificate is not a CA.
	if _, err := LoadCA(nodeCrt, ""); err == nil {
		t.Fatal("node certificate loaded as a CA")
	}
}

func mode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != want {
		t.Fatalf("%s: mode %v, want %v", path, fi.Mode().Perm(), want)
	}
}

// handshake runs a TLS handshake over loopback TCP and returns both
// sides' errors and the peer ids each side sees.
func handshake(t *testing.T, srv, cli *tls.Config) (srvErr, cliErr error, srvSees, cliSees string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			srvErr = err
			return
		}
		defer c.Close()
		tc := tls.Server(c, srv)
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if srvErr = tc.Handshake(); srvErr == nil {
			srvSees, srvErr = PeerNodeID(tc.ConnectionState())
			tc.Write([]byte("x"))
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	tc := tls.Client(c, cli)
	if cliErr = tc.Handshake(); cliErr == nil {
		// In TLS 1.3 the client finishes first; the server's verdict on
		// its certificate arrives with the first read.
		if _, cliErr = io.ReadFull(tc, make([]byte, 1)); cliErr == nil {
			cliSees, cliErr = PeerNodeID(tc.ConnectionState())
		}
	}
	<-done
	return
}

func TestIdentity_MutualTLS(t *testing.T) {
	a, err := Derived(key(1), "a")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Derived(key(1), "b")
	srvErr, cliErr, srvSees, cliSees := handshake(t, a.ServerTLS(), b.ClientTLS())
	if srvErr != nil || cliErr != nil || srvSees != "b" || cliSees != "a" {
		t.Fatalf("same cluster: server %v sees %q; client %v sees %q", srvErr, srvSees, cliErr, cliSees)
	}

	foreign, _ := Derived(key(2), "b")
	if srvErr, cliErr, _, _ := handshake(t, a.ServerTLS(), foreign.ClientTLS()); srvErr == nil || cliErr == nil {
		t.Fatalf("a client of another cluster: server %v, client %v", srvErr, cliErr)
	}
	if srvErr, cliErr, _, _ := handshake(t, foreign.ServerTLS(), b.ClientTLS()); cliErr == nil {
		t.Fatalf("a server of another cluster was trusted: server %v", srvErr)
	}
	noCert := b.ClientTLS()
	noCert.GetClientCertificate = nil
	if srvErr, _, _, _ := handshake(t, a.ServerTLS(), noCert); srvErr == nil {
		t.Fatal("a client without a certificate was accepted")
	}
	tls12 := b.ClientTLS()
	tls12.MinVersion, tls12.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
	if srvErr, _, _, _ := handshake(t, a.ServerTLS(), tls12); srvErr == nil {
		t.Fatal("TLS 1.2 was accepted")
	}
	noALPN := b.ClientTLS()
	noALPN.NextProtos = nil
	if srvErr, _, _, _ := handshake(t, a.ServerTLS(), noALPN); srvErr == nil {
		t.Fatal("a client without the internal ALPN was accepted")
	}
}

func TestIdentity_RenewsDerivedCertificateAtHalfLife(t *testing.T) {
	id, err := Derived(key(1), "a")
	if err != nil {
		t.Fatal(err)
	}
	first, _ := id.Certificate()
	if again, _ := id.Certificate(); again != first {
		t.Fatal("a fresh certificate was renewed")
	}
	now := time.Now()
	old, err := issue(id.issuer, "a", nil, now.Add(-20*time.Hour), now.Add(4*time.Hour), []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth})
	if err != nil {
		t.Fatal(err)
	}
	id.cert = &old
	renewed, err := id.Certificate()
	if err != nil {
		t.Fatal(err)
	}
	if renewed == &old || !renewed.Leaf.NotAfter.After(old.Leaf.NotAfter) {
		t.Fatalf("not renewed: not after %v", renewed.Leaf.NotAfter)
	}
	if nid, _ := NodeID(renewed.Leaf); nid != "a" {
		t.Fatalf("renewed certificate names %q", nid)
	}
}

// FuzzNodeID: whatever URI SANs a certificate carries, NodeID never
// panics, and an id it returns is valid and names the same URI back.
func FuzzNodeID(f *testing.F) {
	f.Add("roam://node/n1", "")
	f.Add("roam://node/a%2Fb", "roam://node/n2")
	f.Add("roam://node/", "spiffe://x/y")
	f.Add("roam://node/n1?x=1#f", "")
	f.Fuzz(func(t *testing.T, a, b string) {
		var c x509.Certificate
		for _, s := range []string{a, b} {
			if u, err := url.Parse(s); err == nil && s != "" {
				c.URIs = append(c.URIs, u)
			}
		}
		id, err := NodeID(&c)
		if err != nil {
			return
		}
		if ValidNodeID(id) != nil {
			t.Fatalf("NodeID returned invalid id %q", id)
		}
		if got, err := NodeID(&x509.Certificate{URIs: []*url.URL{NodeURI(id)}}); err != nil || got != id {
			t.Fatalf("round trip of %q: %q, %v", id, got, err)
		}
	})
}
