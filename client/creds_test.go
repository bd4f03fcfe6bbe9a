package client

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"testing"

	"github.com/xdg-go/scram"

	"github.com/roamhq/roam/wire"
)

// scramServer is xdg-go/scram's server side with creds as the only
// account.
func scramServer(t *testing.T, creds wire.Credentials, nonce string) *scram.ServerConversation {
	t.Helper()
	srv, err := scram.SHA256.NewServer(func(string) (scram.StoredCredentials, error) {
		return scram.StoredCredentials{
			KeyFactors: scram.KeyFactors{Salt: string(creds.Salt), Iters: int(creds.Iters)},
			StoredKey:  creds.StoredKey,
			ServerKey:  creds.ServerKey,
		}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if nonce != "" {
		srv = srv.WithNonceGenerator(func() string { return nonce })
	}
	return srv.NewConversation()
}

// TestDeriveCredentials_RFC7677 derives credentials for the RFC 7677 §3
// example and replays the example exchange against xdg-go/scram's server:
// every message must match the RFC byte for byte.
func TestDeriveCredentials_RFC7677(t *testing.T) {
	salt, _ := base64.StdEncoding.DecodeString("W22ZaJ0SNY7soEsUEjb6gQ==")
	creds, err := deriveWithSalt("user", "pencil", salt, 4096)
	if err != nil {
		t.Fatal(err)
	}
	if len(creds.StoredKey) != 32 || len(creds.ServerKey) != 32 || creds.Iters != 4096 || !bytes.Equal(creds.Salt, salt) {
		t.Fatalf("credentials %+v", creds)
	}
	sc, _ := scram.SHA256.NewClient("user", "pencil", "")
	cc := sc.WithNonceGenerator(func() string { return "rOprNGfwEbeRWgbNEkqO" }).NewConversation()
	ss := scramServer(t, creds, "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0")

	c1, err := cc.Step("")
	if err != nil || c1 != "n,,n=user,r=rOprNGfwEbeRWgbNEkqO" {
		t.Fatalf("client-first %q %v", c1, err)
	}
	s1, err := ss.Step(c1)
	if err != nil || s1 != "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096" {
		t.Fatalf("server-first %q %v", s1, err)
	}
	c2, err := cc.Step(s1)
	if err != nil || c2 != "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=" {
		t.Fatalf("client-final %q %v", c2, err)
	}
	s2, err := ss.Step(c2)
	if err != nil || !ss.Valid() || s2 != "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=" {
		t.Fatalf("server-final %q %v (valid %v)", s2, err, ss.Valid())
	}
	if _, err := cc.Step(s2); err != nil || !cc.Valid() {
		t.Fatalf("client rejected the server's signature: %v", err)
	}
}

func TestDeriveCredentials_FreshSaltAndWrongPassword(t *testing.T) {
	a, err := DeriveCredentials("Alice", "s3cret", 100) // below the minimum: raised
	if err != nil {
		t.Fatal(err)
	}
	b, _ := DeriveCredentials("alice", "s3cret", 4096)
	if len(a.Salt) != SaltSize || bytes.Equal(a.Salt, b.Salt) || bytes.Equal(a.StoredKey, b.StoredKey) {
		t.Fatal("salts must be random and keys must depend on them")
	}
	if a.Iters != MinScramIters {
		t.Fatalf("iters %d", a.Iters)
	}
	for _, tc := range []struct {
		password string
		ok       bool
	}{{"s3cret", true}, {"S3cret", false}, {"", false}} {
		sc, err := scram.SHA256.NewClient("alice", tc.password, "")
		if err != nil {
			if tc.ok {
				t.Fatal(err)
			}
			continue
		}
		cc := sc.NewConversation()
		ss := scramServer(t, a, "")
		c1, _ := cc.Step("")
		s1, err := ss.Step(c1)
		if err != nil {
			t.Fatal(err)
		}
		c2, _ := cc.Step(s1)
		s2, err := ss.Step(c2)
		if ok := err == nil && ss.Valid(); ok != tc.ok {
			t.Fatalf("password %q: server valid = %v, want %v", tc.password, ok, tc.ok)
		}
		if tc.ok {
			if _, err := cc.Step(s2); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestDeriveCredentials_SASLprepVectors pins the non-ASCII vectors of
// PROTOCOL.md §15.1.1: the password is SASLprep-normalized (RFC 4013)
// before PBKDF2, so differently encoded forms of one password give the
// same keys, and the keys match the published table.
func TestDeriveCredentials_SASLprepVectors(t *testing.T) {
	salt, _ := base64.StdEncoding.DecodeString("W22ZaJ0SNY7soEsUEjb6gQ==")
	const (
		umlautStored = "75c82a4d62e4b7f418fc6d934c6d8ac74e789764d8fddd7faebaa9c457f8d9cf"
		umlautServer = "d49d7011020124055f0f44838af5ec86a6d9611e4a160fc2e65b45047052cdb7"
		ixStored     = "8e6e17907bc57bbab4c59e2f9802895224ca3ebd45fbb3179d8ca4b135157811"
		ixServer     = "12a5cce1ce7e23b950e6f1e5e4d82edab63c0c130cd578c6d1d63a1848f02f1d"
	)
	for _, v := range []struct{ pw, stored, server string }{
		{"p\u00e4ssw\u00f6rd", umlautStored, umlautServer},
		{"pa\u0308sswo\u0308rd", umlautStored, umlautServer}, // combining marks: NFKC composes
		{"I\u00adX", ixStored, ixServer},                     // soft hyphen: mapped to nothing
		{"\u2168", ixStored, ixServer},                       // ROMAN NUMERAL NINE: NFKC
		{"IX", ixStored, ixServer},
	} {
		c, err := deriveWithSalt("user", v.pw, salt, 4096)
		if err != nil {
			t.Fatalf("%q: %v", v.pw, err)
		}
		if got := hex.EncodeToString(c.StoredKey); got != v.stored {
			t.Errorf("%q: stored_key %s, want %s", v.pw, got, v.stored)
		}
		if got := hex.EncodeToString(c.ServerKey); got != v.server {
			t.Errorf("%q: server_key %s, want %s", v.pw, got, v.server)
		}
	}
}
