package vlr_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/roamhq/roam/node/pki"
	"github.com/roamhq/roam/vlr"
	"github.com/roamhq/roam/wire"
)

// The end-to-end fuzz targets of the client port: arbitrary bytes go into
// a real vlr connection over loopback TCP (plaintext, or TLS as the node
// serves it), from the first byte, after a valid hello, or after a login.
// Whatever arrives, the server answers only with frames a server may send
// (replies to requests the bytes made, pushes), with documented error
// codes and never internal, or closes; nothing panics or logs an error;
// and a fresh connection is served normally afterwards.
//
//	go test -run='^$' -fuzz='^FuzzConn$'    -fuzztime=20000x ./vlr
//	go test -run='^$' -fuzz='^FuzzConnTLS$' -fuzztime=20000x ./vlr

// Where the fuzzer's bytes start.
const (
	atFirstByte  = iota // straight onto the connection (under TLS: after the handshake)
	afterHello          // after hello/welcome
	afterLogin          // after a resume of alice (MaxFrame applies)
	rawBeforeTLS        // TLS only: onto the socket, before any handshake
	numModes
)

// fuzzServer is one vlr.Server on loopback with the fake home register, for
// the whole fuzzing process (each worker runs its inputs one at a time).
type fuzzServer struct {
	srv     *vlr.Server
	addr    string
	tls     *tls.Config // the client side, nil for plaintext
	errLogs errorLog
	devices atomic.Uint64
}

// errorLog records the server's error-level log lines: a recovered panic
// in a connection's handler, a reply that failed to encode, a home call
// that failed unexpectedly. None may happen.
type errorLog struct {
	mu    sync.Mutex
	lines []string
}

func (e *errorLog) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelError }
func (e *errorLog) Handle(_ context.Context, r slog.Record) error {
	var b bytes.Buffer
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	e.mu.Lock()
	e.lines = append(e.lines, b.String())
	e.mu.Unlock()
	return nil
}
func (e *errorLog) WithAttrs([]slog.Attr) slog.Handler { return e }
func (e *errorLog) WithGroup(string) slog.Handler      { return e }

func (e *errorLog) take() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	l := e.lines
	e.lines = nil
	return l
}

func newFuzzServer(tb testing.TB, useTLS bool) *fuzzServer {
	tb.Helper()
	fs := &fuzzServer{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	cfg := vlr.DefaultConfig()
	cfg.NodeID = "fz"
	cfg.Listener = ln
	cfg.FakeSaltSecret = bytes.Repeat([]byte{1}, 32)
	cfg.TokenSecret = bytes.Repeat([]byte{2}, 32)
	cfg.Logger = slog.New(&fs.errLogs)
	// No limit may hide the dispatch behind rate_limited or a refused
	// connection: the fuzzer opens connections and sends requests far
	// faster than any person.
	cfg.MaxConns, cfg.MaxConnsPerIP, cfg.MaxPreLoginPerIP = 1<<16, 1<<16, 1<<16
	cfg.SendRate, cfg.SendBurst = 1e9, 1<<30
	cfg.RegisterRate, cfg.RegisterBurst = 1e9, 1<<30
	cfg.LoginFailures, cfg.ResumeFailures = 1<<30, 1<<30
	cfg.LoginRate, cfg.LoginBurst, cfg.ResumeRate, cfg.ResumeBurst = 1e9, 1<<30, 1e9, 1<<30
	cfg.FriendRate, cfg.FriendBurst, cfg.BlockRate, cfg.BlockBurst = 1e9, 1<<30, 1e9, 1<<30
	cfg.ProfileRate, cfg.ProfileBurst = 1e9, 1<<30
	if useTLS {
		ca, err := pki.DeriveCA(bytes.Repeat([]byte{2}, 32))
		if err != nil {
			tb.Fatal(err)
		}
		cert, err := pki.IssueNode(ca, "fz", []string{"127.0.0.1"}, time.Hour)
		if err != nil {
			tb.Fatal(err)
		}
		// As the node serves its client port (node/security.go).
		cfg.TLS = &tls.Config{MinVersion: tls.VersionTLS13, NextProtos: []string{pki.ClientALPN}, Certificates: []tls.Certificate{cert}}
		fs.tls = &tls.Config{MinVersion: tls.VersionTLS13, NextProtos: []string{pki.ClientALPN}, RootCAs: ca.Pool(), ServerName: "127.0.0.1"}
	}
	srv, err := vlr.New(cfg, &fakeHome{}, nil, nil, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { srv.Shutdown("") })
	fs.srv, fs.addr = srv, srv.Addr().String()
	return fs
}

// dial opens a connection; with tlsOn it completes the TLS handshake.
func (fs *fuzzServer) dial(t *testing.T, tlsOn bool) (net.Conn, *net.TCPConn) {
	t.Helper()
	raw, err := net.DialTimeout("tcp", fs.addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	tcp := raw.(*net.TCPConn)
	if !tlsOn {
		return raw, tcp
	}
	tc := tls.Client(raw, fs.tls)
	raw.SetDeadline(time.Now().Add(20 * time.Second))
	if err := tc.Handshake(); err != nil {
		raw.Close()
		t.Fatalf("TLS handshake: %v", err)
	}
	raw.SetDeadline(time.Time{})
	return tc, tcp
}

// exchange writes one request and reads until its reply, checking every
// frame on the way; it returns the reply.
func exchange(t *testing.T, c net.Conn, rd *wire.Reader, typ wire.Type, rid uint32, body any) wire.Frame {
	t.Helper()
	b, err := wire.AppendFrame(nil, typ, rid, body)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write(b); err != nil {
		t.Fatalf("%s: write: %v", typ, err)
	}
	for {
		f, err := rd.ReadFrame()
		if err != nil {
			t.Fatalf("%s: no reply: %v", typ, err)
		}
		checkServerFrame(t, f, func(r uint32) bool { return r == rid })
		if f.RID == rid {
			return f
		}
	}
}

// serverTypes are the frames a server may send.
var serverTypes = map[wire.Type]bool{
	wire.TWelcome: true, wire.TError: true, wire.TOK: true, wire.TLoginChallenge: true, wire.TLoginOK: true,
	wire.TWhoamiReply: true, wire.TProfile: true, wire.TPong: true, wire.TFriends: true, wire.TPresence: true,
	wire.TFriendEvent: true, wire.TSendAck: true, wire.TSyncReply: true, wire.TMessage: true, wire.TGoodbye: true,
	wire.TRoleListReply: true,
	// Groups, scheduled messages and scenes: a fuzzed schedule_list after
	// login is answered (testdata/fuzz/FuzzConnTLS/6d3c7e9be29fc3e9).
	wire.TGroupListReply: true, wire.TGroupMembersReply: true, wire.TGroupSyncReply: true, wire.TGroupMessage: true,
	wire.TScheduleListReply: true, wire.TScheduled: true, wire.TScheduleEvent: true,
	wire.TSceneJoined: true, wire.TSceneEvent: true, wire.TSceneView: true, wire.TSceneResend: true,
}

// knownCodes are the documented error codes.
var knownCodes = func() map[wire.Code]bool {
	m := make(map[wire.Code]bool)
	for _, c := range wire.Codes() {
		m[c] = true
	}
	return m
}()

// checkServerFrame checks one frame from the server: a type a server
// sends, a body that decodes, a documented error code (never internal),
// and a request id that is 0 or one the client used (asked).
func checkServerFrame(t *testing.T, f wire.Frame, asked func(uint32) bool) {
	t.Helper()
	if !serverTypes[f.Type] {
		t.Fatalf("the server sent a %s frame (rid %d)", f.Type, f.RID)
	}
	body := wire.NewBody(f.Type)
	if err := wire.Decode(f.Body, body); err != nil {
		t.Fatalf("the server's %s frame does not decode: %v", f.Type, err)
	}
	if f.RID != 0 && !asked(f.RID) {
		t.Fatalf("the server sent a %s frame for request %d, which was never made", f.Type, f.RID)
	}
	var code wire.Code
	switch b := body.(type) {
	case *wire.Error:
		code = b.Code
	case *wire.Goodbye:
		code = b.Code
	default:
		return
	}
	if !knownCodes[code] || code == wire.CodeOK || code == wire.CodeInternal {
		t.Fatalf("the server sent %s with code %d (%s)", f.Type, code, code)
	}
}

// requestIDs returns the request ids of the frames in data, as far as it
// holds whole frames: the only ids the server may answer.
func requestIDs(data []byte) map[uint32]bool {
	ids := make(map[uint32]bool)
	for len(data) >= wire.HeaderSize {
		n := uint64(binary.BigEndian.Uint32(data))
		if n < wire.HeaderSize-4 || n+4 > uint64(len(data)) {
			break
		}
		ids[binary.BigEndian.Uint32(data[5:])] = true
		data = data[4+n:]
	}
	return ids
}

// prelude brings a connection to where the fuzzer's bytes start.
func (fs *fuzzServer) prelude(t *testing.T, c net.Conn, mode int) (rd *wire.Reader) {
	t.Helper()
	rd = wire.NewReader(c, 16<<20)
	if mode != afterHello && mode != afterLogin {
		return rd
	}
	f := exchange(t, c, rd, wire.THello, 0xfff0, &wire.Hello{Proto: wire.Magic, Version: wire.Version, Client: "fuzz"})
	if f.Type != wire.TWelcome {
		t.Fatalf("hello answered with %s", f.Type)
	}
	if mode != afterLogin {
		return rd
	}
	dev := fmt.Sprintf("fz-%d", fs.devices.Add(1))
	f = exchange(t, c, rd, wire.TResume, 0xfff1, &wire.Resume{User: "alice", Device: dev, Token: fuzzToken})
	if f.Type != wire.TLoginOK {
		var e wire.Error
		wire.Decode(f.Body, &e)
		t.Fatalf("resume answered with %s %+v", f.Type, e)
	}
	return rd
}

// run feeds data, cut in two writes at cut, to a new connection in mode
// and checks what comes back, then that a fresh connection is served.
func (fs *fuzzServer) run(t *testing.T, mode int, data []byte, cut int) {
	tlsOn := fs.tls != nil && mode != rawBeforeTLS
	c, tcp := fs.dial(t, tlsOn)
	defer c.Close()
	rd := fs.prelude(t, c, mode)

	// Read everything the server sends until it closes, concurrently with
	// the writes (the server may answer, or close, before they end).
	type result struct {
		frames []wire.Frame
		err    error
	}
	done := make(chan result, 1)
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	go func() {
		var r result
		if mode == rawBeforeTLS {
			// The server speaks TLS here: whatever it sends (an alert)
			// is not frames.
			_, r.err = io.Copy(io.Discard, c)
			done <- r
			return
		}
		for {
			f, err := rd.ReadFrame()
			if err != nil {
				r.err = err
				done <- r
				return
			}
			f.Body = bytes.Clone(f.Body)
			r.frames = append(r.frames, f)
		}
	}()
	c.SetWriteDeadline(time.Now().Add(30 * time.Second))
	at := cut % (len(data) + 1)
	if _, err := c.Write(data[:at]); err == nil {
		c.Write(data[at:])
	}
	// Say the client is done: the server must then answer what it read
	// and close, rather than wait for more.
	if tc, ok := c.(*tls.Conn); ok {
		tc.CloseWrite()
	}
	tcp.CloseWrite()
	r := <-done
	var ne net.Error
	if errors.As(r.err, &ne) && ne.Timeout() {
		t.Fatalf("mode %d: the server neither closed nor stopped sending within 30s (%d frames)", mode, len(r.frames))
	}
	asked := requestIDs(data)
	for _, f := range r.frames {
		checkServerFrame(t, f, func(rid uint32) bool { return asked[rid] })
	}
	if lines := fs.errLogs.take(); len(lines) > 0 {
		t.Fatalf("mode %d: the server logged errors:\n%s", mode, lines)
	}
	fs.stillServes(t)
}

// stillServes checks that a fresh connection gets a welcome and a pong.
func (fs *fuzzServer) stillServes(t *testing.T) {
	t.Helper()
	c, _ := fs.dial(t, fs.tls != nil)
	defer c.Close()
	rd := fs.prelude(t, c, afterHello)
	if f := exchange(t, c, rd, wire.TPing, 7, &wire.Empty{}); f.Type != wire.TPong {
		t.Fatalf("a fresh connection's ping answered with %s", f.Type)
	}
}

// connSeeds are the inputs to start from: valid requests of every kind,
// one by one and pipelined, and the framing failures.
func connSeeds(tb testing.TB) [][]byte {
	tb.Helper()
	frame := func(typ wire.Type, rid uint32, body any) []byte {
		b, err := wire.AppendFrame(nil, typ, rid, body)
		if err != nil {
			tb.Fatal(err)
		}
		return b
	}
	name := "bob"
	hello := frame(wire.THello, 1, &wire.Hello{Proto: wire.Magic, Version: wire.Version, MaxFrame: 1 << 16})
	reqs := [][]byte{
		frame(wire.TPing, 2, &wire.Empty{}),
		frame(wire.TRegister, 3, &wire.Register{User: "carol", Credentials: wire.Credentials{Salt: make([]byte, 16), Iters: 4096, StoredKey: make([]byte, 32), ServerKey: make([]byte, 32)}}),
		frame(wire.TLoginStart, 4, &wire.LoginStart{User: "alice", Device: "d1", ClientFirst: "n,,n=alice,r=abcdefgh"}),
		frame(wire.TLoginFinish, 5, &wire.LoginFinish{ClientFinal: "c=biws,r=abcdefgh,p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}),
		frame(wire.TResume, 6, &wire.Resume{User: "alice", Device: "d2", Token: fuzzToken}),
		frame(wire.TWhoami, 7, &wire.Empty{}),
		frame(wire.TGetProfile, 8, &wire.GetProfile{User: "bob"}),
		frame(wire.TSetProfile, 9, &wire.SetProfile{DisplayName: &name}),
		frame(wire.TFriendRequest, 10, &wire.Peer{User: "bob"}),
		frame(wire.TFriendAccept, 11, &wire.Peer{User: "carol"}),
		frame(wire.TBlock, 12, &wire.Peer{User: "dave"}),
		frame(wire.TFriendList, 13, &wire.Empty{}),
		frame(wire.TSetPresence, 14, &wire.SetPresence{Status: "away"}),
		frame(wire.TSend, 15, &wire.Send{To: "bob", CMID: 1, Body: []byte("hi")}),
		frame(wire.TSync, 16, &wire.Sync{After: 0, Limit: 2}),
		frame(wire.TAck, 0, &wire.Ack{Seq: 2}),
		frame(wire.TChangePassword, 17, &wire.ChangePassword{Credentials: wire.Credentials{Salt: make([]byte, 16), Iters: 4096, StoredKey: make([]byte, 32), ServerKey: make([]byte, 32)}}),
		frame(wire.TLogout, 18, &wire.Empty{}),
		frame(wire.TDeleteAccount, 19, &wire.Empty{}),
		frame(wire.TRoleCreate, 21, &wire.RoleRef{NS: "eu", Name: "knight"}),
		frame(wire.TRoleRename, 22, &wire.RoleRename{Name: "knight", NewName: "paladin"}),
		frame(wire.TRoleList, 23, &wire.Empty{}),
		frame(wire.TRolePick, 24, &wire.RoleRef{NS: "eu", Name: "knight"}),
		frame(wire.TRoleDelete, 25, &wire.RoleRef{Name: "x/y"}),
	}
	seeds := [][]byte{hello, bytes.Join(append([][]byte{hello}, reqs...), nil), bytes.Join(reqs, nil)}
	seeds = append(seeds, reqs...)
	seeds = append(seeds,
		[]byte{0xff, 0xff, 0xff, 0xff},                                            // a frame far above the limit
		[]byte{0, 0, 0, 4, 1},                                                     // a length below 5
		frame(wire.Type(200), 1, &wire.Empty{}),                                   // an unknown type
		frame(wire.TPing, 0, &wire.Empty{}),                                       // a request without a request id
		wire.AppendRaw(nil, wire.TSend, 20, []byte{0xdd, 0xff, 0xff, 0xff, 0xff}), // a bomb
		[]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
		[]byte{0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00}, // a stunted ClientHello
		nil,
	)
	return seeds
}

func fuzzConn(f *testing.F, useTLS bool) {
	fs := newFuzzServer(f, useTLS)
	modes := numModes
	if !useTLS {
		modes = rawBeforeTLS // the same as atFirstByte without TLS
	}
	for i, s := range connSeeds(f) {
		for m := 0; m < modes; m++ {
			f.Add(uint8(m), s, uint16(len(s)/2+i))
		}
	}
	f.Fuzz(func(t *testing.T, mode uint8, data []byte, cut uint16) {
		fs.run(t, int(mode)%modes, data, int(cut))
	})
}

// FuzzConn: arbitrary bytes into a real plaintext client connection.
func FuzzConn(f *testing.F) { fuzzConn(f, false) }

// FuzzConnTLS: the same over TLS, plus arbitrary bytes in place of the
// TLS handshake.
func FuzzConnTLS(f *testing.F) { fuzzConn(f, true) }
