package vlr

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"time"

	"github.com/xdg-go/scram"

	"github.com/roamhq/roam/hlr"
	"github.com/roamhq/roam/wire"
)

// User names. A name is 3 to 32 characters from a-z, 0-9, '_', '.' and
// '-', starting with a letter. Names are case-insensitive: the server
// lowercases what the client sends, and the lowercased form is the
// canonical name that is hashed to a partition and stored.
const (
	minNameLen = 3
	maxNameLen = 32
	// maxDeviceLen bounds a device id (any printable ASCII but space).
	maxDeviceLen = 64
)

// canonicalName returns the canonical form of a user name, or false if the
// name breaks the rules.
func canonicalName(s string) (string, bool) {
	if len(s) < minNameLen || len(s) > maxNameLen {
		return "", false
	}
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
			b[i] = c
		}
		switch {
		case 'a' <= c && c <= 'z':
		case i > 0 && ('0' <= c && c <= '9' || c == '_' || c == '.' || c == '-'):
		default:
			return "", false
		}
	}
	return string(b), true
}

// validDevice reports whether d is an acceptable device id.
func validDevice(d string) bool {
	if d == "" || len(d) > maxDeviceLen {
		return false
	}
	for i := 0; i < len(d); i++ {
		if d[i] <= ' ' || d[i] > '~' {
			return false
		}
	}
	return true
}

// saltLen is the only accepted salt length. Every account has the same salt
// length and iteration count as the fake credentials shown for unknown
// users, so a login challenge reveals nothing about which names exist.
const saltLen = 16

// validCreds checks client-derived SCRAM credentials: a 16-byte salt,
// exactly the node's iteration count, and 32-byte keys.
func validCreds(c *wire.Credentials, iters uint32) bool {
	return len(c.Salt) == saltLen && c.Iters == iters &&
		len(c.StoredKey) == sha256.Size && len(c.ServerKey) == sha256.Size
}

// checkClientFirst rejects client-first messages that the scram library
// would mishandle (it indexes the GS2 flag without checking the length):
// the message must start with a GS2 header "n," or "y," and be short.
func checkClientFirst(s string) bool {
	return len(s) >= 4 && len(s) <= 1024 && (s[0] == 'n' || s[0] == 'y') && s[1] == ','
}

func toHLRCreds(c *wire.Credentials) *hlr.Creds {
	return &hlr.Creds{Salt: c.Salt, Iters: c.Iters, StoredKey: c.StoredKey, ServerKey: c.ServerKey}
}

// loginState is a SCRAM exchange between LoginStart and LoginFinish.
type loginState struct {
	user    string
	device  string
	conv    *scram.ServerConversation
	credGen uint64 // 0 when the account does not exist
	started time.Time
}

// fakeCreds returns deterministic credentials for a user name that has no
// account: the salt is derived from the name and a cluster secret, so it is
// the same on every attempt and every node, and the keys are random, so the
// proof fails at the final step exactly as a wrong password does.
func fakeCreds(secret []byte, user string, iters uint32) scram.StoredCredentials {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("roam fake salt\x00"))
	m.Write([]byte(user))
	salt := m.Sum(nil)[:saltLen]
	sk := make([]byte, sha256.Size)
	vk := make([]byte, sha256.Size)
	rand.Read(sk)
	rand.Read(vk)
	return scram.StoredCredentials{
		KeyFactors: scram.KeyFactors{Salt: string(salt), Iters: int(iters)},
		StoredKey:  sk,
		ServerKey:  vk,
	}
}

// checkClientFinal rejects client-final messages that the scram library
// would mishandle: its proof check XORs the proof with a 32-byte signature
// indexed by the proof's length, so a longer proof would panic.
func checkClientFinal(s string) bool {
	if len(s) > 1024 {
		return false
	}
	i := strings.LastIndexByte(s, ',')
	if i < 0 || !strings.HasPrefix(s[i+1:], "p=") {
		return false
	}
	p, err := base64.StdEncoding.DecodeString(s[i+3:])
	return err == nil && len(p) == sha256.Size
}

// newToken returns a fresh 128-bit session token and its SHA-256, which is
// all the home register stores.
func newToken() (token, hash []byte) {
	token = make([]byte, 16)
	rand.Read(token)
	return token, hashToken(token)
}

// rotateToken is the token a resume presenting old rotates to: the first
// 16 bytes of HMAC-SHA-256(secret, "resume" || old). A retry of the same
// resume (same old token) therefore asks for the same new token, which
// the home register grants again within its retry window; without the
// cluster's secret nobody can compute it from the old token.
func rotateToken(secret, old []byte) (token, hash []byte) {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("resume"))
	m.Write(old)
	token = m.Sum(nil)[:16]
	return token, hashToken(token)
}

func hashToken(t []byte) []byte {
	h := sha256.Sum256(t)
	return h[:]
}
