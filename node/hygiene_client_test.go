package node

import (
	"crypto/rand"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xdg-go/scram"

	"github.com/roamhq/roam/wire"
)

// hyConn is a raw protocol client for the connection-hygiene tests: it
// speaks frames directly, so it can also misbehave (trickle, stop reading).
type hyConn struct {
	t   testing.TB
	nc  net.Conn
	rd  *wire.Reader
	rid uint32
	// frames read while waiting for a reply.
	pending []wire.Frame
}

// hyDialer dials from a loopback source address (Linux routes all of
// 127/8 to lo); rcvbuf > 0 shrinks the socket's receive buffer before the
// connection is made.
func hyDialer(from string, rcvbuf int) *net.Dialer {
	d := &net.Dialer{Timeout: 5 * time.Second}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	if rcvbuf > 0 {
		d.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
			})
			if err != nil {
				return err
			}
			return serr
		}
	}
	return d
}

func hyDial(t testing.TB, addr, from string) *hyConn {
	t.Helper()
	nc, err := hyDialer(from, 0).Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, from, err)
	}
	return hyWrap(t, nc)
}

func hyWrap(t testing.TB, nc net.Conn) *hyConn {
	t.Cleanup(func() { nc.Close() })
	return &hyConn{t: t, nc: nc, rd: wire.NewReader(nc, 64<<20)}
}

// hyTLS wraps nc in a TLS client that trusts cfg's roots.
func hyTLS(t testing.TB, nc net.Conn, cfg *tls.Config) *hyConn {
	t.Helper()
	tc := tls.Client(nc, cfg)
	tc.SetDeadline(time.Now().Add(10 * time.Second))
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS handshake: %v", err)
	}
	tc.SetDeadline(time.Time{})
	return hyWrap(t, tc)
}

func (c *hyConn) write(b []byte) error {
	c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := c.nc.Write(b)
	return err
}

func (c *hyConn) send(typ wire.Type, body any) uint32 {
	c.t.Helper()
	c.rid++
	b, err := wire.AppendFrame(nil, typ, c.rid, body)
	if err != nil {
		c.t.Fatalf("encode %s: %v", typ, err)
	}
	if err := c.write(b); err != nil {
		c.t.Fatalf("write %s: %v", typ, err)
	}
	return c.rid
}

// next reads one frame within d, copying its body.
func (c *hyConn) next(d time.Duration) (wire.Frame, error) {
	c.nc.SetReadDeadline(time.Now().Add(d))
	f, err := c.rd.ReadFrame()
	if err != nil {
		return f, err
	}
	f.Body = append([]byte(nil), f.Body...)
	return f, nil
}

// reply waits for the reply to rid, keeping other frames aside.
func (c *hyConn) reply(rid uint32) wire.Frame {
	c.t.Helper()
	for i, f := range c.pending {
		if f.RID == rid {
			c.pending = append(c.pending[:i], c.pending[i+1:]...)
			return f
		}
	}
	for {
		f, err := c.next(20 * time.Second)
		if err != nil {
			c.t.Fatalf("waiting for the reply to rid %d: %v", rid, err)
		}
		if f.RID == rid {
			return f
		}
		c.pending = append(c.pending, f)
	}
}

func (c *hyConn) call(typ wire.Type, body any, want wire.Type, out any) {
	c.t.Helper()
	f := c.reply(c.send(typ, body))
	if f.Type != want {
		c.t.Fatalf("%s: got %s %s, want %s", typ, f.Type, hyDescribe(f), want)
	}
	if out != nil {
		if err := wire.Decode(f.Body, out); err != nil {
			c.t.Fatalf("%s: decode: %v", typ, err)
		}
	}
}

func (c *hyConn) hello() wire.Welcome {
	c.t.Helper()
	var w wire.Welcome
	c.call(wire.THello, &wire.Hello{Proto: wire.Magic, Version: wire.Version, Client: "hygiene"}, wire.TWelcome, &w)
	return w
}

func (c *hyConn) register(user string) {
	c.t.Helper()
	cl, err := scram.SHA256.NewClient(user, "pw-"+user, "")
	if err != nil {
		c.t.Fatal(err)
	}
	salt := make([]byte, 16)
	rand.Read(salt)
	sc := cl.GetStoredCredentials(scram.KeyFactors{Salt: string(salt), Iters: 4096})
	c.call(wire.TRegister, &wire.Register{User: user, Credentials: wire.Credentials{Salt: salt, Iters: 4096, StoredKey: sc.StoredKey, ServerKey: sc.ServerKey}}, wire.TOK, nil)
}

func (c *hyConn) login(user, device string) wire.LoginOK {
	c.t.Helper()
	cl, err := scram.SHA256.NewClient(strings.ToLower(user), "pw-"+user, "")
	if err != nil {
		c.t.Fatal(err)
	}
	conv := cl.NewConversation()
	first, _ := conv.Step("")
	var ch wire.LoginChallenge
	c.call(wire.TLoginStart, &wire.LoginStart{User: user, Device: device, ClientFirst: first}, wire.TLoginChallenge, &ch)
	final, err := conv.Step(ch.ServerFirst)
	if err != nil {
		c.t.Fatal(err)
	}
	var ok wire.LoginOK
	c.call(wire.TLoginFinish, &wire.LoginFinish{ClientFinal: final}, wire.TLoginOK, &ok)
	return ok
}

// hyEnd is how a connection ended: the last error or goodbye code seen
// (CodeOK if none) and the frames before it.
type hyEnd struct {
	code   wire.Code
	rid    uint32
	frames []wire.Frame
	err    error // the read error that ended it (EOF, reset, or a timeout)
}

func (e hyEnd) timedOut() bool {
	var ne net.Error
	return errors.As(e.err, &ne) && ne.Timeout()
}

// end reads until the server closes the connection or d passes.
func (c *hyConn) end(d time.Duration) hyEnd {
	var e hyEnd
	deadline := time.Now().Add(d)
	for {
		f, err := c.next(time.Until(deadline))
		if err != nil {
			e.err = err
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				e.err = io.EOF
			}
			return e
		}
		switch f.Type {
		case wire.TError:
			var we wire.Error
			wire.Decode(f.Body, &we)
			e.code, e.rid = we.Code, f.RID
		case wire.TGoodbye:
			var g wire.Goodbye
			wire.Decode(f.Body, &g)
			e.code, e.rid = g.Code, f.RID
		default:
			e.frames = append(e.frames, f)
		}
	}
}

func hyDescribe(f wire.Frame) string {
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

// push waits for a push of type typ (rid 0), keeping other frames aside.
func (c *hyConn) push(typ wire.Type) wire.Frame {
	c.t.Helper()
	for i, f := range c.pending {
		if f.Type == typ && f.RID == 0 {
			c.pending = append(c.pending[:i], c.pending[i+1:]...)
			return f
		}
	}
	for {
		f, err := c.next(20 * time.Second)
		if err != nil {
			c.t.Fatalf("waiting for a %s push: %v", typ, err)
		}
		if f.Type == typ && f.RID == 0 {
			return f
		}
		c.pending = append(c.pending, f)
	}
}
