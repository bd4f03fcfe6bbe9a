package main

import (
	"bufio"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/roamhq/roam/node/pki"
	"github.com/roamhq/roam/wire"
)

// The benchmark users all share one password and one salt, so the
// PBKDF2 work is done once: the server cannot tell, and the load generator
// spends its CPU on the protocol instead of on key stretching.
const benchPassword = "bench-password"

var (
	benchSalt  = []byte("roambench-salt16")
	scramIters = uint32(4096)
	clientKey  []byte
	storedKey  []byte
	serverKey  []byte
)

func initKeys(iters uint32) {
	scramIters = iters
	salted, err := pbkdf2.Key(sha256.New, benchPassword, benchSalt, int(iters), 32)
	if err != nil {
		panic(err)
	}
	clientKey = hmacSHA(salted, "Client Key")
	sk := sha256.Sum256(clientKey)
	storedKey = sk[:]
	serverKey = hmacSHA(salted, "Server Key")
}

func hmacSHA(key []byte, msg string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(msg))
	return h.Sum(nil)
}

func benchCreds() wire.Credentials {
	return wire.Credentials{Salt: benchSalt, Iters: scramIters, StoredKey: storedKey, ServerKey: serverKey}
}

// srcSeq picks loopback source addresses 127.0.1.1–127.0.1.200 in turn, so
// that many connections do not run out of ephemeral ports.
var srcSeq atomic.Uint32

func srcAddr() *net.TCPAddr {
	n := srcSeq.Add(1)
	return &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(1+n%200))}
}

func dialTCP(addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: srcAddr()}
	return d.Dial("tcp", addr)
}

// rconn is a raw roam protocol connection.
type rconn struct {
	nc        net.Conn
	rd        *wire.Reader
	bw        *bufio.Writer
	rid       uint32
	buf       []byte
	heartbeat time.Duration // how often a logged-in client pings (Welcome)
}

type codeErr struct {
	code wire.Code
	msg  string
}

func (e *codeErr) Error() string { return fmt.Sprintf("%s: %s", e.code.Name(), e.msg) }

func codeOf(err error) wire.Code {
	var ce *codeErr
	if errors.As(err, &ce) {
		return ce.code
	}
	return wire.CodeInternal
}

// dialer opens the load generator's client connections to one cluster:
// plaintext TCP, or TLS 1.3 with ALPN "roam/1" verified against the CA the
// bench made for the cluster's client certificates (as a client
// application connects). A nil *dialer dials plaintext. Every connection
// makes a full handshake: the generator keeps no session tickets, so a
// login measures what a client that connects for the first time pays.
type dialer struct {
	tls    *tls.Config
	caFile string // the CA certificate, for holder processes
}

// newTLSDialer returns a dialer that trusts the CA in caFile (PEM).
func newTLSDialer(caFile string) (*dialer, error) {
	certs, err := pki.ReadCertificates(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return &dialer{caFile: caFile, tls: &tls.Config{
		MinVersion: tls.VersionTLS13,
		NextProtos: []string{pki.ClientALPN},
		RootCAs:    pool,
		ServerName: "127.0.0.1",
	}}, nil
}

// secure reports whether d speaks TLS.
func (d *dialer) secure() bool { return d != nil && d.tls != nil }

// conn opens a connection to addr, with its TLS handshake done.
func (d *dialer) conn(addr string) (net.Conn, error) {
	nc, err := dialTCP(addr)
	if err != nil || !d.secure() {
		return nc, err
	}
	tc := tls.Client(nc, d.tls)
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	if err := tc.Handshake(); err != nil {
		nc.Close()
		return nil, fmt.Errorf("TLS handshake with %s: %w", addr, err)
	}
	nc.SetDeadline(time.Time{})
	return tc, nil
}

// dialRoam opens a connection to the node at addr and exchanges hello.
func (d *dialer) dialRoam(addr string) (*rconn, error) {
	nc, err := d.conn(addr)
	if err != nil {
		return nil, err
	}
	c := &rconn{nc: nc, rd: wire.NewReader(nc, wire.DefaultMaxFrame), bw: bufio.NewWriterSize(nc, 8<<10)}
	var w wire.Welcome
	if _, err := c.call(wire.THello, &wire.Hello{Proto: wire.Magic, Version: wire.Version, Client: "roambench"}, &w); err != nil {
		nc.Close()
		return nil, err
	}
	if w.ScramIters != 0 && w.ScramIters != scramIters {
		nc.Close()
		return nil, fmt.Errorf("server wants %d SCRAM iterations", w.ScramIters)
	}
	c.heartbeat = time.Duration(w.HeartbeatMS) * time.Millisecond
	return c, nil
}

// heartbeatOf asks the node at addr how often logged-in clients must ping.
func (d *dialer) heartbeatOf(addr string) (time.Duration, error) {
	c, err := d.dialRoam(addr)
	if err != nil {
		return 0, err
	}
	c.Close()
	return c.heartbeat, nil
}

func (c *rconn) Close() { c.nc.Close() }

// write queues one request and returns its request id.
func (c *rconn) write(t wire.Type, body any) (uint32, error) {
	c.rid++
	var err error
	c.buf, err = wire.AppendFrame(c.buf[:0], t, c.rid, body)
	if err != nil {
		return 0, err
	}
	_, err = c.bw.Write(c.buf)
	return c.rid, err
}

// readReply reads frames until the reply to rid, dropping pushes; a TError
// reply becomes a *codeErr.
func (c *rconn) readReply(rid uint32, out any) (wire.Type, error) {
	c.nc.SetReadDeadline(time.Now().Add(15 * time.Second))
	defer c.nc.SetReadDeadline(time.Time{})
	for {
		f, err := c.rd.ReadFrame()
		if err != nil {
			return 0, err
		}
		if f.RID != rid {
			if f.Type == wire.TGoodbye {
				var g wire.Goodbye
				wire.Decode(f.Body, &g)
				return 0, &codeErr{g.Code, "goodbye: " + g.Message}
			}
			continue
		}
		if f.Type == wire.TError {
			var e wire.Error
			wire.Decode(f.Body, &e)
			return f.Type, &codeErr{e.Code, e.Message}
		}
		if out != nil {
			if err := wire.Decode(f.Body, out); err != nil {
				return f.Type, err
			}
		}
		return f.Type, nil
	}
}

func (c *rconn) call(t wire.Type, body, out any) (wire.Type, error) {
	rid, err := c.write(t, body)
	if err != nil {
		return 0, err
	}
	if err := c.bw.Flush(); err != nil {
		return 0, err
	}
	return c.readReply(rid, out)
}

// login runs SCRAM-SHA-256 (RFC 5802) with the precomputed keys.
func (c *rconn) login(user, device string) error {
	var nb [18]byte
	rand.Read(nb[:])
	cnonce := base64.RawStdEncoding.EncodeToString(nb[:])
	bare := "n=" + strings.ToLower(user) + ",r=" + cnonce
	var ch wire.LoginChallenge
	if _, err := c.call(wire.TLoginStart, &wire.LoginStart{User: user, Device: device, ClientFirst: "n,," + bare}, &ch); err != nil {
		return err
	}
	var nonce string
	for _, part := range strings.Split(ch.ServerFirst, ",") {
		if strings.HasPrefix(part, "r=") {
			nonce = part[2:]
		}
	}
	if !strings.HasPrefix(nonce, cnonce) {
		return fmt.Errorf("bad server nonce in %q", ch.ServerFirst)
	}
	noProof := "c=biws,r=" + nonce
	sig := hmacSHA(storedKey, bare+","+ch.ServerFirst+","+noProof)
	proof := make([]byte, len(clientKey))
	for i := range proof {
		proof[i] = clientKey[i] ^ sig[i]
	}
	final := noProof + ",p=" + base64.StdEncoding.EncodeToString(proof)
	var ok wire.LoginOK
	if _, err := c.call(wire.TLoginFinish, &wire.LoginFinish{ClientFinal: final}, &ok); err != nil {
		return err
	}
	return nil
}

// dialLogin dials addr and logs user in, retrying on transient errors for
// up to d.
func (d *dialer) dialLogin(addr, user, device string, within time.Duration) (*rconn, error) {
	deadline := time.Now().Add(within)
	for {
		c, err := d.dialRoam(addr)
		if err == nil {
			err = c.login(user, device)
			if err == nil {
				return c, nil
			}
			c.Close()
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("login %s at %s: %w", user, addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// registerAll registers users over pipelined connections, retrying the
// ones that fail with a transient error. Taken names count as done. A
// connection's requests run one at a time at the server, so it takes
// several connections for the home registers to batch registrations.
func (d *dialer) registerAll(addrs []string, users []string) error {
	const conns, batch = 32, 256
	todo := users
	for attempt := 0; attempt < 20 && len(todo) > 0; attempt++ {
		if attempt > 0 {
			time.Sleep(500 * time.Millisecond)
		}
		failed := make(chan []string, conns)
		for w := 0; w < conns; w++ {
			go func(w int) {
				var mine, bad []string
				for i := w; i < len(todo); i += conns {
					mine = append(mine, todo[i])
				}
				c, err := d.dialRoam(addrs[w%len(addrs)])
				if err != nil {
					failed <- mine
					return
				}
				defer c.Close()
				cr := benchCreds()
				for len(mine) > 0 {
					n := min(batch, len(mine))
					rids := make([]uint32, n)
					for i := 0; i < n; i++ {
						rids[i], _ = c.write(wire.TRegister, &wire.Register{User: mine[i], Credentials: cr})
					}
					if err := c.bw.Flush(); err != nil {
						bad = append(bad, mine...)
						break
					}
					for i := 0; i < n; i++ {
						if _, err := c.readReply(rids[i], nil); err != nil && codeOf(err) != wire.CodeNameTaken {
							bad = append(bad, mine[i])
						}
					}
					mine = mine[n:]
				}
				failed <- bad
			}(w)
		}
		var next []string
		for w := 0; w < conns; w++ {
			next = append(next, <-failed...)
		}
		todo = next
	}
	if len(todo) > 0 {
		return fmt.Errorf("%d registrations failed", len(todo))
	}
	return nil
}
