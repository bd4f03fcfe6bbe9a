package vlr

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/roamhq/roam/wire"
)

func TestCanonicalName(t *testing.T) {
	good := map[string]string{
		"alice": "alice", "Alice": "alice", "BOB_42": "bob_42", "a.b-c": "a.b-c",
		"abc": "abc", strings.Repeat("x", 32): strings.Repeat("x", 32),
	}
	for in, want := range good {
		if got, ok := canonicalName(in); !ok || got != want {
			t.Errorf("canonicalName(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "ab", "1abc", "_abc", "al ice", "alice!", "élan", strings.Repeat("x", 33), "a\x00bc"} {
		if got, ok := canonicalName(in); ok {
			t.Errorf("canonicalName(%q) accepted as %q", in, got)
		}
	}
}

func TestValidDevice(t *testing.T) {
	for _, d := range []string{"phone", "d1", "laptop-2.local", strings.Repeat("z", 64)} {
		if !validDevice(d) {
			t.Errorf("validDevice(%q) = false", d)
		}
	}
	for _, d := range []string{"", "a b", "tab\t", strings.Repeat("z", 65), "ünï"} {
		if validDevice(d) {
			t.Errorf("validDevice(%q) = true", d)
		}
	}
}

func TestValidCreds(t *testing.T) {
	ok := wire.Credentials{Salt: make([]byte, 16), Iters: 4096, StoredKey: make([]byte, 32), ServerKey: make([]byte, 32)}
	if !validCreds(&ok, 4096) {
		t.Fatal("valid credentials refused")
	}
	bad := []func(c *wire.Credentials){
		func(c *wire.Credentials) { c.Salt = make([]byte, 8) },
		func(c *wire.Credentials) { c.Iters = 4095 },
		func(c *wire.Credentials) { c.StoredKey = make([]byte, 31) },
		func(c *wire.Credentials) { c.ServerKey = nil },
		func(c *wire.Credentials) { c.Iters = 5_000_000 },
		func(c *wire.Credentials) { c.Iters = 8192 }, // would stand out from the fake credentials
		func(c *wire.Credentials) { c.Salt = make([]byte, 32) },
	}
	for i, mut := range bad {
		c := ok
		mut(&c)
		if validCreds(&c, 4096) {
			t.Errorf("case %d: bad credentials accepted", i)
		}
	}
}

func TestFakeCredsDeterministicSalt(t *testing.T) {
	secret := []byte("0123456789abcdef")
	a1 := fakeCreds(secret, "ghost", 4096)
	a2 := fakeCreds(secret, "ghost", 4096)
	b := fakeCreds(secret, "phantom", 4096)
	other := fakeCreds([]byte("fedcba9876543210"), "ghost", 4096)
	if a1.Salt != a2.Salt || len(a1.Salt) != 16 {
		t.Fatal("fake salt differs between attempts")
	}
	if a1.Salt == b.Salt || a1.Salt == other.Salt {
		t.Fatal("fake salt does not depend on the name and the secret")
	}
	if bytes.Equal(a1.StoredKey, a2.StoredKey) {
		t.Fatal("fake stored keys repeat: a guessed proof could match")
	}
	if a1.Iters != 4096 {
		t.Fatalf("fake iterations %d", a1.Iters)
	}
}

func TestCheckClientFinal(t *testing.T) {
	proof := func(n int) string { return base64.StdEncoding.EncodeToString(make([]byte, n)) }
	if !checkClientFinal("c=biws,r=abc,p=" + proof(sha256.Size)) {
		t.Fatal("well-formed client-final refused")
	}
	for _, s := range []string{
		"c=biws,r=abc,p=" + proof(64), // would panic inside the scram library
		"c=biws,r=abc,p=" + proof(16),
		"c=biws,r=abc,p=!!!",
		"c=biws,r=abc",
		"",
		"p=" + proof(32) + strings.Repeat("A", 2000),
	} {
		if checkClientFinal(s) {
			t.Errorf("checkClientFinal(%q) = true", s)
		}
	}
}

func TestCheckClientFirst(t *testing.T) {
	if !checkClientFirst("n,,n=alice,r=abc") || !checkClientFirst("y,,n=alice,r=abc") {
		t.Fatal("well-formed client-first refused")
	}
	// ",,n=x,r=y" made the scram library index an empty GS2 flag and panic.
	for _, s := range []string{",,n=x,r=y", "", "n", "p=tls-unique,,n=x,r=y", "x,,n=a,r=b", "n,," + strings.Repeat("a", 2000)} {
		if checkClientFirst(s) {
			t.Errorf("checkClientFirst(%q) = true", s)
		}
	}
}

func TestTokens(t *testing.T) {
	tok, h := newToken()
	tok2, h2 := newToken()
	if len(tok) != 16 || len(h) != 32 || bytes.Equal(tok, tok2) || bytes.Equal(h, h2) {
		t.Fatal("tokens are not 128 random bits with a SHA-256 hash")
	}
	if !bytes.Equal(hashToken(tok), h) {
		t.Fatal("hashToken disagrees with newToken")
	}
}

func TestBucketsRefillAndRetryAfter(t *testing.T) {
	b := newBuckets(1, 3)
	now := time.Unix(1000, 0)
	for i := 0; i < 3; i++ {
		if ok, _ := b.take("u", now); !ok {
			t.Fatalf("burst token %d refused", i)
		}
	}
	ok, wait := b.take("u", now)
	if ok || wait <= 0 || wait > 1100*time.Millisecond {
		t.Fatalf("4th take: ok=%v wait=%v; want refused with ~1s", ok, wait)
	}
	if ok, _ := b.take("other", now); !ok {
		t.Fatal("keys share a bucket")
	}
	if ok, _ := b.take("u", now.Add(1100*time.Millisecond)); !ok {
		t.Fatal("bucket did not refill")
	}
}

func TestBucketsPruneIdleKeys(t *testing.T) {
	b := newBuckets(10, 1)
	now := time.Unix(1000, 0)
	for i := 0; i < 3*pruneEvery; i++ {
		b.take(strings.Repeat("k", 1+i%7)+string(rune(i)), now.Add(time.Duration(i)*time.Second))
	}
	if n := b.size(); n > pruneEvery+1 {
		t.Fatalf("%d buckets kept; idle ones must be pruned", n)
	}
}

func TestFailuresLockoutGrows(t *testing.T) {
	f := newFailures(3, time.Minute, 10*time.Second)
	now := time.Unix(1000, 0)
	for i := 0; i < 2; i++ {
		f.fail("k", now)
	}
	if f.blocked("k", now) != 0 {
		t.Fatal("locked before the threshold")
	}
	f.fail("k", now)
	first := f.blocked("k", now)
	if first <= 0 {
		t.Fatal("not locked at the threshold")
	}
	later := now.Add(first)
	for i := 0; i < 3; i++ {
		f.fail("k", later)
	}
	second := f.blocked("k", later)
	if second <= first {
		t.Fatalf("second lockout %v not longer than first %v", second, first)
	}
	for i := 0; i < 40; i++ {
		f.fail("k", later)
	}
	if d := f.blocked("k", later); d > 10*time.Second {
		t.Fatalf("lockout %v exceeds the maximum", d)
	}
	f.success("k")
	if f.blocked("k", later) != 0 {
		t.Fatal("success did not clear the lockout")
	}
}
