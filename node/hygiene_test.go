package node

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/roamhq/roam/vlr"
	"github.com/roamhq/roam/wire"
)

// Connection hygiene on the client port (issue 11): each test is named
// after the attack it stops, and runs real TCP against a node built by
// New.

// hyNode starts a one-node cluster with the client settings adjusted by
// tune.
func hyNode(t *testing.T, tune func(*vlr.Config)) *Node {
	t.Helper()
	cfg := testConfig(t, t.TempDir())
	cfg.Logger = nil // thousands of refusals would flood the test log
	if tune != nil {
		tune(&cfg.VLR)
	}
	n := startNode(t, cfg)
	t.Cleanup(func() { n.Shutdown() })
	return n
}

// raiseNoFile lifts the soft open-file limit to the hard one.
func raiseNoFile(t *testing.T, need uint64) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		t.Fatal(err)
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
	if l.Cur < need {
		t.Skipf("open-file limit %d, need %d", l.Cur, need)
	}
}

// refusedAtOnce reports whether c was turned away: error
// too_many_connections (rid 0) or a bare close, well before any deadline
// of the server's could have passed.
func refusedAtOnce(c *hyConn) (bool, string) {
	e := c.end(10 * time.Second)
	switch {
	case e.timedOut():
		return false, "still open"
	case e.code == wire.CodeTooManyConns && e.rid == 0, e.code == wire.CodeOK && len(e.frames) == 0:
		return true, ""
	}
	return false, fmt.Sprintf("ended with %s (rid %d) after %d frames", e.code.Name(), e.rid, len(e.frames))
}

func TestPreLoginCap_ThousandSilentConnectionsFromOneAddress(t *testing.T) {
	const attempts, cap = 1000, 64
	raiseNoFile(t, 2*attempts+500)
	n := hyNode(t, func(c *vlr.Config) {
		c.MaxPreLoginPerIP = cap
		c.MaxConnsPerIP = cap + 1
		// Long enough that no held connection times out during the test:
		// every refusal below is the cap's, at once.
		c.HandshakeTimeout, c.LoginDeadline = time.Minute, time.Minute
	})
	addr := n.ClientAddr()

	// Two accounts, registered from elsewhere.
	admin := hyDial(t, addr, "127.0.0.2")
	admin.hello()
	admin.register("capa")
	admin.register("capb")

	// The attacker opens 1,000 connections from one address and says
	// nothing on them.
	const attacker = "127.0.0.3"
	conns := make([]*hyConn, attempts)
	for i := range conns {
		nc, err := hyDialer(attacker, 0).Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		conns[i] = hyWrap(t, nc)
	}
	// Every connection beyond the cap is refused at once; the ones
	// within it are open and served.
	var wg sync.WaitGroup
	var refused, served, with303 atomic.Int32
	var bad atomic.Value
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if b, err := wire.AppendFrame(nil, wire.THello, 1, &wire.Hello{Proto: wire.Magic, Version: wire.Version}); err == nil {
				c.write(b) // a refused connection may already be closed
			}
			f, err := c.next(10 * time.Second)
			if err == nil && f.Type == wire.TWelcome {
				served.Add(1)
				return
			}
			if err == nil && f.Type == wire.TError {
				var e wire.Error
				wire.Decode(f.Body, &e)
				if e.Code == wire.CodeTooManyConns && f.RID == 0 {
					if ok, why := refusedAtOnce(c); !ok {
						bad.Store("after 303: " + why)
					}
					refused.Add(1)
					with303.Add(1)
					return
				}
			}
			if err != nil && !isTimeout(err) {
				refused.Add(1) // closed (or reset) without a frame
				return
			}
			bad.Store(fmt.Sprintf("frame %s %s, err %v", f.Type, hyDescribe(f), err))
		}()
	}
	wg.Wait()
	if b := bad.Load(); b != nil {
		t.Fatalf("a connection was neither served nor refused at once: %v", b)
	}
	if served.Load() != cap || refused.Load() != attempts-cap {
		t.Fatalf("%d connections served and %d refused, want %d and %d", served.Load(), refused.Load(), cap, attempts-cap)
	}
	// Refusals say why; a client whose hello crossed the refusal may see
	// only a reset.
	t.Logf("%d of %d refusals came with too_many_connections", with303.Load(), refused.Load())
	if with303.Load() == 0 {
		t.Fatalf("no refusal came with too_many_connections (303)")
	}
	if st := n.vlr.Stats(); st.PreLogin != cap+1 {
		t.Fatalf("Stats().PreLogin = %d, want %d (the attacker's and the admin's)", st.PreLogin, cap+1)
	}

	// A login from another address still works while the attacker holds
	// its connections.
	other := hyDial(t, addr, "127.0.0.4")
	other.hello()
	other.login("capa", "elsewhere")

	// A session that logs in leaves the pre-login count: its address may
	// open one more anonymous connection.
	var held []*hyConn
	for _, c := range conns {
		if c.end(50 * time.Millisecond).timedOut() {
			held = append(held, c)
		}
	}
	if len(held) != cap {
		t.Fatalf("%d connections still open, want %d", len(held), cap)
	}
	held[0].login("capb", "attacker-device")
	extra := hyDial(t, addr, attacker)
	extra.send(wire.THello, &wire.Hello{Proto: wire.Magic, Version: wire.Version})
	if f, err := extra.next(10 * time.Second); err != nil || f.Type != wire.TWelcome {
		t.Fatalf("after one of them logged in, a new anonymous connection from the address was not served: %s %s, %v", f.Type, hyDescribe(f), err)
	}
	// The total cap per address (cap+1) applies to logged-in sessions
	// too: with two of them, the next anonymous connection (the 64th
	// anonymous, the 66th in all) is refused.
	held[1].login("capa", "attacker-2")
	if ok, why := refusedAtOnce(hyDial(t, addr, attacker)); !ok {
		t.Fatalf("connection %d from one address was not refused (MaxConnsPerIP %d): %s", cap+2, cap+1, why)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

func TestLoginDeadline_PingingAnonymousConnectionClosed(t *testing.T) {
	n := hyNode(t, func(c *vlr.Config) {
		c.LoginDeadline = 2 * time.Second
		c.HandshakeTimeout = 10 * time.Second
	})
	start := time.Now() // the deadline runs from the connect
	c := hyDial(t, n.ClientAddr(), "127.0.0.5")
	c.hello()
	// Ping every 200 ms, never log in; the server answers each ping until
	// the login deadline, then refuses and closes.
	var code wire.Code
	var rid uint32
	for code == wire.CodeOK {
		if time.Since(start) > 30*time.Second {
			t.Fatalf("an anonymous connection that pings is still open after 30 s (login deadline 2 s)")
		}
		b, _ := wire.AppendFrame(nil, wire.TPing, 7, nil)
		if err := c.write(b); err != nil {
			break
		}
		for {
			f, err := c.next(200 * time.Millisecond)
			if err != nil {
				if !isTimeout(err) {
					t.Fatalf("closed without an error frame: %v", err)
				}
				break
			}
			if f.Type == wire.TError {
				var e wire.Error
				wire.Decode(f.Body, &e)
				code, rid = e.Code, f.RID
				break
			}
			if f.Type != wire.TPong {
				t.Fatalf("got %s %s", f.Type, hyDescribe(f))
			}
		}
	}
	if code != wire.CodeTimeout || rid != 0 {
		t.Fatalf("ended with %s (rid %d), want timeout (rid 0)", code.Name(), rid)
	}
	if time.Since(start) < 2*time.Second-100*time.Millisecond {
		t.Fatalf("closed after %v, before the login deadline", time.Since(start))
	}
	if e := c.end(10 * time.Second); e.timedOut() {
		t.Fatalf("still open after the timeout error")
	}
}

// trickle writes b one byte per interval until done or a write fails.
func trickle(c *hyConn, b []byte, every time.Duration, stop <-chan struct{}) {
	for _, x := range b {
		select {
		case <-stop:
			return
		case <-time.After(every):
		}
		if c.write([]byte{x}) != nil {
			return
		}
	}
}

func TestFrameDeadline_TrickledFrameCutOff(t *testing.T) {
	n := hyNode(t, func(c *vlr.Config) {
		c.FrameTimeout = 2 * time.Second
		c.HandshakeTimeout = 30 * time.Second
		c.LoginDeadline = time.Minute
		// The heartbeat deadline (90 s) is far away.
	})
	addr := n.ClientAddr()
	reg := hyDial(t, addr, "127.0.0.6")
	reg.hello()
	reg.register("trickler")

	check := func(t *testing.T, c *hyConn, frame []byte) {
		t.Helper()
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			trickle(c, frame, time.Second, stop)
		}()
		defer func() { close(stop); <-done }()
		// The frame needs len(frame) > 40 seconds; it is cut off long
		// before (and before the pre-login frame timeout of 30 s).
		e := c.end(20 * time.Second)
		if e.timedOut() {
			t.Fatalf("a frame trickled at 1 byte/s was not cut off")
		}
		if e.code != wire.CodeTimeout || e.rid != 0 {
			t.Fatalf("ended with %s (rid %d), %v; want timeout (rid 0)", e.code.Name(), e.rid, e.err)
		}
	}
	t.Run("logged in", func(t *testing.T) {
		c := hyDial(t, addr, "127.0.0.6")
		c.hello()
		c.login("trickler", "d1")
		frame, _ := wire.AppendFrame(nil, wire.TSetPresence, 9, &wire.SetPresence{Status: "away, trickled in one byte at a time"})
		check(t, c, frame)
	})
	t.Run("before login", func(t *testing.T) {
		c := hyDial(t, addr, "127.0.0.6")
		frame, _ := wire.AppendFrame(nil, wire.THello, 1, &wire.Hello{Proto: wire.Magic, Version: wire.Version, Client: "trickling-client/1.0"})
		check(t, c, frame)
	})
}

func TestPreLoginFrames_OversizeAndBadFramesClose(t *testing.T) {
	n := hyNode(t, nil)
	addr := n.ClientAddr()
	limit := vlr.DefaultConfig().PreLoginMaxFrame
	cases := []struct {
		name  string
		login bool
		frame []byte
		want  wire.Code
	}{
		{"hello above the pre-login limit", false, wire.AppendRaw(nil, wire.THello, 1, make([]byte, limit)), wire.CodeFrameTooLarge},
		{"register above the pre-login limit", true, wire.AppendRaw(nil, wire.TRegister, 2, make([]byte, limit)), wire.CodeFrameTooLarge},
		{"length below 5", true, []byte{0, 0, 0, 2, 1, 0}, wire.CodeBadFrame},
		{"bad body", true, wire.AppendRaw(nil, wire.TRegister, 2, []byte{0xc1}), wire.CodeBadBody},
		{"largest frame prefix", false, []byte{0xff, 0xff, 0xff, 0xff}, wire.CodeFrameTooLarge},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := hyDial(t, addr, fmt.Sprintf("127.0.1.%d", i+1))
			if tc.login {
				c.hello()
			}
			c.write(tc.frame)
			e := c.end(10 * time.Second)
			if e.timedOut() || e.code != tc.want {
				t.Fatalf("ended with %s, %v; want %s then a close", e.code.Name(), e.err, tc.want.Name())
			}
		})
	}
	t.Run("a frame within the pre-login limit is read", func(t *testing.T) {
		c := hyDial(t, addr, "127.0.1.100")
		c.call(wire.THello, &wire.Hello{Proto: wire.Magic, Version: wire.Version, Client: string(make([]byte, limit-200))}, wire.TWelcome, nil)
	})
	t.Run("after login the full max_frame applies", func(t *testing.T) {
		c := hyDial(t, addr, "127.0.1.101")
		w := c.hello()
		c.register("bigframes")
		c.login("bigframes", "d")
		// A profile update far above the pre-login limit is read (and
		// refused on its content, not on its size).
		about := string(make([]byte, int(w.MaxFrame)/2))
		f := c.reply(c.send(wire.TSetProfile, &wire.SetProfile{About: &about}))
		if f.Type == wire.TError {
			var e wire.Error
			wire.Decode(f.Body, &e)
			if e.Code == wire.CodeFrameTooLarge || e.Code.Fatal() {
				t.Fatalf("a %d-byte frame after login: %s", len(about), e.Code.Name())
			}
		}
	})
}

// selfSigned returns a server certificate for 127.0.0.1 and a pool that
// trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "roam test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

func TestTLS_ClientPort(t *testing.T) {
	cert, pool := selfSigned(t)
	n := hyNode(t, func(c *vlr.Config) {
		c.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13}
		c.MaxPreLoginPerIP = 2
		c.HandshakeTimeout = 3 * time.Second
	})
	addr := n.ClientAddr()
	client := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS13}
	dialTLS := func(from string) *hyConn {
		nc, err := hyDialer(from, 0).Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		return hyTLS(t, nc, client)
	}

	t.Run("a TLS client registers, logs in and pings", func(t *testing.T) {
		c := dialTLS("127.0.2.1")
		c.hello()
		c.register("tlsuser")
		ok := c.login("tlsuser", "d")
		if ok.User != "tlsuser" {
			t.Fatalf("login ok %+v", ok)
		}
		c.call(wire.TPing, &wire.Empty{}, wire.TPong, nil)
	})
	t.Run("a plaintext client is closed", func(t *testing.T) {
		c := hyDial(t, addr, "127.0.2.2")
		b, _ := wire.AppendFrame(nil, wire.THello, 1, &wire.Hello{Proto: wire.Magic, Version: wire.Version})
		c.write(b)
		e := c.end(10 * time.Second)
		if e.timedOut() {
			t.Fatalf("a plaintext client on the TLS port is still open")
		}
		for _, f := range e.frames {
			t.Fatalf("a plaintext client got a frame: %s", f.Type)
		}
		if e.code != wire.CodeOK {
			t.Fatalf("a plaintext client got %s", e.code.Name())
		}
	})
	t.Run("a silent client is closed at the handshake deadline", func(t *testing.T) {
		c := hyDial(t, addr, "127.0.2.3")
		if e := c.end(20 * time.Second); e.timedOut() {
			t.Fatalf("a connection that never starts its TLS handshake is still open")
		}
	})
	t.Run("the pre-login cap closes at once, without a handshake", func(t *testing.T) {
		a, b := hyDial(t, addr, "127.0.2.4"), hyDial(t, addr, "127.0.2.4")
		defer a.nc.Close()
		defer b.nc.Close()
		c := hyDial(t, addr, "127.0.2.4")
		e := c.end(10 * time.Second)
		if e.timedOut() || e.code != wire.CodeOK || len(e.frames) != 0 {
			t.Fatalf("a third connection over the cap of 2: %s, %v (want a bare close)", e.code.Name(), e.err)
		}
	})
}

// proxyV2 builds a PROXY protocol v2 header for a TCP connection from src
// to dst (a LOCAL command if src is invalid).
func proxyV2(src, dst netip.AddrPort) []byte {
	b := []byte{0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a}
	if !src.IsValid() {
		return append(b, 0x20, 0x00, 0, 0)
	}
	if src.Addr().Is4() {
		b = append(b, 0x21, 0x11, 0, 12)
		b = append(b, src.Addr().AsSlice()...)
		b = append(b, dst.Addr().AsSlice()...)
	} else {
		s16, d16 := src.Addr().As16(), dst.Addr().As16()
		b = append(b, 0x21, 0x21, 0, 36)
		b = append(b, s16[:]...)
		b = append(b, d16[:]...)
	}
	b = binary.BigEndian.AppendUint16(b, src.Port())
	return binary.BigEndian.AppendUint16(b, dst.Port())
}

func TestProxyProtocol_CapsApplyToTheRealAddress(t *testing.T) {
	const proxy = "127.0.3.1"
	n := hyNode(t, func(c *vlr.Config) {
		c.ProxyProtocol = true
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix(proxy + "/32")}
		c.MaxPreLoginPerIP = 2
		c.HandshakeTimeout = 3 * time.Second
	})
	addr := n.ClientAddr()
	dst := netip.MustParseAddrPort(addr)
	viaProxy := func(src netip.AddrPort) *hyConn {
		c := hyDial(t, addr, proxy)
		if err := c.write(proxyV2(src, dst)); err != nil {
			t.Fatal(err)
		}
		return c
	}
	client := netip.MustParseAddrPort("203.0.113.7:40000")

	// Two anonymous connections of one client through the proxy are
	// served; its third is refused, by the client's address.
	a, b := viaProxy(client), viaProxy(client)
	a.hello()
	b.hello()
	if ok, why := refusedAtOnce(viaProxy(client)); !ok {
		t.Fatalf("a client's third anonymous connection through the proxy: %s", why)
	}
	// Other clients behind the same proxy are not affected.
	for i, src := range []string{"203.0.113.8:1", "[2001:db8::8]:2"} {
		c := viaProxy(netip.MustParseAddrPort(src))
		c.hello()
		if i == 0 {
			c.register("proxied")
			c.login("proxied", "d")
		}
	}
	// The client's address is the one the node counts.
	if st := n.vlr.Stats(); st.PreLogin != 3 {
		t.Fatalf("PreLogin = %d, want 3 (two of 203.0.113.7, one of 2001:db8::8)", st.PreLogin)
	}
	// LOCAL (a health check) keeps the proxy's own address.
	l1, l2 := viaProxy(netip.AddrPort{}), viaProxy(netip.AddrPort{})
	l1.hello()
	l2.hello()
	if ok, why := refusedAtOnce(viaProxy(netip.AddrPort{})); !ok {
		t.Fatalf("a third LOCAL connection (the proxy's own address, cap 2): %s", why)
	}

	t.Run("a trusted proxy's connection without a header is closed", func(t *testing.T) {
		c := hyDial(t, addr, proxy)
		b, _ := wire.AppendFrame(nil, wire.THello, 1, &wire.Hello{Proto: wire.Magic, Version: wire.Version})
		c.write(b)
		if e := c.end(10 * time.Second); e.timedOut() || len(e.frames) != 0 || e.code != wire.CodeOK {
			t.Fatalf("hello without a PROXY header from the proxy: %s, %d frames, %v", e.code.Name(), len(e.frames), e.err)
		}
	})
	t.Run("a header from an untrusted address is refused", func(t *testing.T) {
		c := hyDial(t, addr, "127.0.3.2")
		c.write(proxyV2(netip.MustParseAddrPort("198.51.100.1:1"), dst))
		c.write(func() []byte {
			b, _ := wire.AppendFrame(nil, wire.THello, 1, &wire.Hello{Proto: wire.Magic, Version: wire.Version})
			return b
		}())
		e := c.end(10 * time.Second)
		if e.timedOut() || e.code != wire.CodeFrameTooLarge || len(e.frames) != 0 {
			t.Fatalf("PROXY header from an untrusted address: %s, %d frames, %v (want frame_too_large and a close)", e.code.Name(), len(e.frames), e.err)
		}
	})
	t.Run("a truncated header times out", func(t *testing.T) {
		c := hyDial(t, addr, proxy)
		c.write(proxyV2(client, dst)[:20])
		if e := c.end(20 * time.Second); e.timedOut() || len(e.frames) != 0 {
			t.Fatalf("truncated PROXY header: %v, %d frames", e.err, len(e.frames))
		}
	})
}

func TestOutputBudget_SlowConsumerDisconnectedAndResyncs(t *testing.T) {
	const (
		budget = 1 << 20
		body   = 60000
		// The kernel's socket buffers absorb a few MB per connection
		// before the node's queues grow: send well beyond that.
		perSub   = 120
		subs     = 4
		pageSize = 8
	)
	n := hyNode(t, func(c *vlr.Config) {
		// Each receiver may queue as much as the whole node: the budget,
		// shared by four, is what must hold them back.
		c.OutQueueBytes, c.OutputBudget = budget, budget
		c.MaxBody = body
		c.SendRate, c.SendBurst = 1e6, 1e6
		c.RegisterBurst = 100
	})
	addr := n.ClientAddr()
	pub := hyDial(t, addr, "127.0.4.1")
	pub.hello()
	pub.register("pub")
	pub.login("pub", "d")

	// Receivers with tiny socket buffers, logged in and synced (so pushes
	// flow), then they stop reading.
	var readers []*hyConn
	for i := 0; i < subs; i++ {
		name := fmt.Sprintf("sub%d", i)
		nc, err := hyDialer(fmt.Sprintf("127.0.4.%d", 10+i), 4096).Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		r := hyWrap(t, nc)
		r.hello()
		r.register(name)
		r.login(name, "d")
		r.call(wire.TFriendRequest, &wire.Peer{User: "pub"}, wire.TOK, nil)
		pub.call(wire.TFriendAccept, &wire.Peer{User: name}, wire.TOK, nil)
		// The asker's side of the friendship is written after the accept
		// returns; its event says it is there.
		for {
			var ev wire.FriendEvent
			wire.Decode(r.push(wire.TFriendEvent).Body, &ev)
			if ev.Event == "accepted" {
				break
			}
		}
		r.call(wire.TSync, &wire.Sync{After: 0}, wire.TSyncReply, nil)
		readers = append(readers, r)
	}

	// Sample the node's queued output throughout.
	var peak atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if q := n.vlr.QueuedBytes(); q > peak.Load() {
				peak.Store(q)
			}
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Microsecond):
			}
		}
	}()

	// Many messages arrive for the receivers, round robin.
	msg := func(sub, i int) []byte {
		b := make([]byte, body)
		binary.BigEndian.PutUint32(b, uint32(sub))
		binary.BigEndian.PutUint32(b[4:], uint32(i))
		return b
	}
	writeErr := make(chan error, 1)
	go func() {
		var err error
		for i := 0; i < perSub && err == nil; i++ {
			for sub := 0; sub < subs && err == nil; sub++ {
				var b []byte
				b, err = wire.AppendFrame(nil, wire.TSend, uint32(1000+i*subs+sub), &wire.Send{To: fmt.Sprintf("sub%d", sub), CMID: uint64(1 + i*subs + sub), Body: msg(sub, i)})
				if err == nil {
					err = pub.write(b)
				}
			}
		}
		writeErr <- err
	}()
	// Pipelined sends commit in any order: the acks say which message
	// got which place in its recipient's inbox.
	atSeq := make([]map[uint64]int, subs)
	for sub := range atSeq {
		atSeq[sub] = make(map[uint64]int)
	}
	for k := 0; k < perSub*subs; k++ {
		f := pub.reply(uint32(1000 + k))
		var ack wire.SendAck
		if f.Type != wire.TSendAck || wire.Decode(f.Body, &ack) != nil || ack.Dup {
			t.Fatalf("send %d: %s %s", k, f.Type, hyDescribe(f))
		}
		atSeq[k%subs][ack.Seq] = k / subs
	}
	if err := <-writeErr; err != nil {
		t.Fatal(err)
	}

	// Every receiver was disconnected as a slow consumer (a goodbye if it
	// could be written at once, else a bare close), and the node never
	// held more than its budget.
	for i, r := range readers {
		e := r.end(60 * time.Second)
		if e.timedOut() {
			t.Fatalf("sub%d: a receiver that stopped reading is still connected (%d frames read; %+v; peak %d)", i, len(e.frames), n.vlr.Stats(), peak.Load())
		}
		if e.code != wire.CodeOK && e.code != wire.CodeSlowConsumer {
			t.Fatalf("sub%d: ended with %s", i, e.code.Name())
		}
	}
	close(stop)
	<-sampled
	st := n.vlr.Stats()
	if p := peak.Load(); p > budget || p == 0 {
		t.Fatalf("queued output peaked at %d bytes, budget %d", p, budget)
	}
	if st.SlowConsumers < 1 {
		t.Fatalf("SlowConsumers = %d", st.SlowConsumers)
	}
	t.Logf("peak queued %d of %d bytes; %d slow consumers disconnected", peak.Load(), budget, st.SlowConsumers)

	// Back online, each receiver syncs every message, in order, once.
	for sub := 0; sub < subs; sub++ {
		name := fmt.Sprintf("sub%d", sub)
		r := hyDial(t, addr, fmt.Sprintf("127.0.4.%d", 20+sub))
		r.hello()
		ok := r.login(name, "d")
		var got []wire.Message
		after := ok.Cursor
		for {
			var rep wire.SyncReply
			r.call(wire.TSync, &wire.Sync{After: after, Limit: pageSize}, wire.TSyncReply, &rep)
			got = append(got, rep.Messages...)
			after = rep.Next - 1
			if !rep.More {
				break
			}
		}
		if ok.Cursor != 0 || len(got) != perSub {
			t.Fatalf("%s: cursor %d, %d messages after it, want 0 and %d", name, ok.Cursor, len(got), perSub)
		}
		for i, m := range got {
			if want := atSeq[sub][m.Seq]; m.Seq != uint64(i+1) || string(m.Body) != string(msg(sub, want)) {
				t.Fatalf("%s: message %d has seq %d and body #%d, want seq %d and body #%d", name, i, m.Seq, binary.BigEndian.Uint32(m.Body[4:]), i+1, want)
			}
		}
	}
}

func TestNodeConnCap_FloodFromManyAddressesRefused(t *testing.T) {
	const max = 5
	n := hyNode(t, func(c *vlr.Config) { c.MaxConns = max })
	addr := n.ClientAddr()
	for i := 0; i < max; i++ {
		hyDial(t, addr, fmt.Sprintf("127.0.5.%d", i+1)).hello()
	}
	// Every address is under its own caps; the node is full.
	if ok, why := refusedAtOnce(hyDial(t, addr, "127.0.5.100")); !ok {
		t.Fatalf("connection %d to a node with MaxConns %d: %s", max+1, max, why)
	}
	if st := n.vlr.Stats(); st.Conns != max || st.Refused < 1 {
		t.Fatalf("Stats %+v", st)
	}
}
