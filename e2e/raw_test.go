package e2e

import (
	"crypto/rand"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xdg-go/scram"

	"github.com/roamhq/roam/wire"
)

// raw is a minimal protocol client for tests: it speaks frames directly so
// that tests can also send what a well-behaved client never would.
type raw struct {
	t   *testing.T
	nc  net.Conn
	rd  *wire.Reader
	rid uint32
	// pushes received while waiting for a reply.
	pushes []wire.Frame
}

// nextSource numbers the loopback source addresses of test connections.
var nextSource atomic.Uint32

// sourceAddr returns a fresh loopback source address (127.0.0.0/8 is all
// loopback on Linux), so that per-address throttles in one test do not
// spill into the next.
func sourceAddr() *net.TCPAddr {
	n := nextSource.Add(1)
	return &net.TCPAddr{IP: net.IPv4(127, byte(1+n/60000%250), byte(n/250%240), byte(2+n%250))}
}

func dialRaw(t *testing.T, addr string) *raw {
	t.Helper()
	return dialRawFrom(t, addr, sourceAddr())
}

// dialRawFrom dials addr from the given local address.
func dialRawFrom(t *testing.T, addr string, from *net.TCPAddr) *raw {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: from}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { nc.Close() })
	return &raw{t: t, nc: nc, rd: wire.NewReader(nc, wire.DefaultMaxFrame)}
}

// hello dials and completes the handshake.
func hello(t *testing.T, addr string) (*raw, wire.Welcome) {
	t.Helper()
	r := dialRaw(t, addr)
	var w wire.Welcome
	r.call(wire.THello, &wire.Hello{Proto: wire.Magic, Version: wire.Version, Client: "e2e"}, wire.TWelcome, &w)
	return r, w
}

func (r *raw) write(b []byte) {
	r.t.Helper()
	r.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.nc.Write(b); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

func (r *raw) send(t wire.Type, body any) uint32 {
	r.t.Helper()
	r.rid++
	b, err := wire.AppendFrame(nil, t, r.rid, body)
	if err != nil {
		r.t.Fatalf("encode %s: %v", t, err)
	}
	r.write(b)
	return r.rid
}

// read returns the next frame, failing the test after 10 s.
func (r *raw) read() wire.Frame {
	r.t.Helper()
	f, err := r.readErr(10 * time.Second)
	if err != nil {
		r.t.Fatalf("read: %v", err)
	}
	return f
}

func (r *raw) readErr(d time.Duration) (wire.Frame, error) {
	r.nc.SetReadDeadline(time.Now().Add(d))
	f, err := r.rd.ReadFrame()
	if err != nil {
		return wire.Frame{}, err
	}
	// Copy: the body aliases the reader's buffer.
	f.Body = append([]byte(nil), f.Body...)
	return f, nil
}

// reply waits for the reply to rid, keeping pushes (and replies to other
// requests: replies to pipelined sends may come in any order) aside.
func (r *raw) reply(rid uint32) wire.Frame {
	r.t.Helper()
	for i, f := range r.pushes {
		if f.RID == rid && rid != 0 {
			r.pushes = append(r.pushes[:i], r.pushes[i+1:]...)
			return f
		}
	}
	for {
		f := r.read()
		if f.RID == rid && f.RID != 0 {
			return f
		}
		r.pushes = append(r.pushes, f)
	}
}

// call sends a request and decodes the expected reply type into out.
func (r *raw) call(t wire.Type, body any, want wire.Type, out any) {
	r.t.Helper()
	f := r.reply(r.send(t, body))
	if f.Type != want {
		r.t.Fatalf("%s: got %s (%s), want %s", t, f.Type, describe(f), want)
	}
	if out != nil {
		if err := wire.Decode(f.Body, out); err != nil {
			r.t.Fatalf("%s: decode %s: %v", t, want, err)
		}
	}
}

// callErr sends a request that must fail with code.
func (r *raw) callErr(t wire.Type, body any, code wire.Code) wire.Error {
	r.t.Helper()
	f := r.reply(r.send(t, body))
	if f.Type != wire.TError {
		r.t.Fatalf("%s: got %s, want error %s", t, f.Type, code.Name())
	}
	var e wire.Error
	if err := wire.Decode(f.Body, &e); err != nil {
		r.t.Fatalf("decode error: %v", err)
	}
	if e.Code != code {
		r.t.Fatalf("%s: got error %s (%q), want %s", t, e.Code.Name(), e.Message, code.Name())
	}
	return e
}

func describe(f wire.Frame) string {
	switch f.Type {
	case wire.TError:
		var e wire.Error
		if wire.Decode(f.Body, &e) == nil {
			return e.Code.Name() + ": " + e.Message
		}
	case wire.TGoodbye:
		var g wire.Goodbye
		if wire.Decode(f.Body, &g) == nil {
			return g.Code.Name() + ": " + g.Message
		}
	}
	return ""
}

// creds derives SCRAM credentials for password.
func creds(t *testing.T, user, password string, iters uint32) wire.Credentials {
	t.Helper()
	cl, err := scram.SHA256.NewClient(user, password, "")
	if err != nil {
		t.Fatal(err)
	}
	salt := make([]byte, 16)
	rand.Read(salt)
	sc := cl.GetStoredCredentials(scram.KeyFactors{Salt: string(salt), Iters: int(iters)})
	return wire.Credentials{Salt: salt, Iters: iters, StoredKey: sc.StoredKey, ServerKey: sc.ServerKey}
}

func (r *raw) register(user, password string, iters uint32) {
	r.t.Helper()
	r.call(wire.TRegister, &wire.Register{User: user, Credentials: creds(r.t, user, password, iters)}, wire.TOK, nil)
}

// login runs the SCRAM exchange and returns the LoginOK.
func (r *raw) login(user, password, device string) wire.LoginOK {
	r.t.Helper()
	ok, code := r.tryLogin(user, password, device)
	if code != wire.CodeOK {
		r.t.Fatalf("login %s: %s", user, code.Name())
	}
	return ok
}

func (r *raw) tryLogin(user, password, device string) (wire.LoginOK, wire.Code) {
	r.t.Helper()
	cl, err := scram.SHA256.NewClient(strings.ToLower(user), password, "")
	if err != nil {
		r.t.Fatal(err)
	}
	conv := cl.NewConversation()
	first, _ := conv.Step("")
	f := r.reply(r.send(wire.TLoginStart, &wire.LoginStart{User: user, Device: device, ClientFirst: first}))
	if code := errCode(r.t, f); code != wire.CodeOK {
		return wire.LoginOK{}, code
	}
	var ch wire.LoginChallenge
	if err := wire.Decode(f.Body, &ch); err != nil {
		r.t.Fatal(err)
	}
	final, err := conv.Step(ch.ServerFirst)
	if err != nil {
		r.t.Fatalf("scram step: %v", err)
	}
	f = r.reply(r.send(wire.TLoginFinish, &wire.LoginFinish{ClientFinal: final}))
	if code := errCode(r.t, f); code != wire.CodeOK {
		return wire.LoginOK{}, code
	}
	var ok wire.LoginOK
	if err := wire.Decode(f.Body, &ok); err != nil {
		r.t.Fatal(err)
	}
	if _, err := conv.Step(ok.ServerFinal); err != nil {
		r.t.Fatalf("server signature: %v", err)
	}
	return ok, wire.CodeOK
}

// errCode returns the code of an error frame, or CodeOK for anything else.
func errCode(t *testing.T, f wire.Frame) wire.Code {
	t.Helper()
	if f.Type != wire.TError {
		return wire.CodeOK
	}
	var e wire.Error
	if err := wire.Decode(f.Body, &e); err != nil {
		t.Fatal(err)
	}
	return e.Code
}

// expectClosed reads until the server closes the connection and returns
// the last error or goodbye code seen.
func (r *raw) expectClosed() wire.Code {
	r.t.Helper()
	last := wire.CodeOK
	for {
		f, err := r.readErr(10 * time.Second)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				r.t.Fatalf("connection still open")
			}
			return last
		}
		switch f.Type {
		case wire.TError:
			last = errCode(r.t, f)
		case wire.TGoodbye:
			var g wire.Goodbye
			if err := wire.Decode(f.Body, &g); err != nil {
				r.t.Fatal(err)
			}
			last = g.Code
		}
	}
}
