package node_test

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xdg-go/scram"

	"github.com/roamhq/roam/wire"
)

// rawSession is a protocol client that keeps nothing from the server
// hidden: every message frame it receives (sync pages and pushes) is
// recorded as it came, so a test can check the server's own promises —
// in order, no gap, nothing twice on a session — which the client library
// would otherwise paper over by dropping repeats and resyncing gaps.
type rawSession struct {
	t  testing.TB
	nc net.Conn
	wr sync.Mutex // serialises writes

	mu      sync.Mutex
	rid     uint32
	waiting map[uint32]chan wire.Frame
	got     []rawMessage // every message received, in arrival order
	pushes  []wire.Frame // every other push (presence, friend events)
	bye     wire.Code    // goodbye code, once one arrived
	closed  bool
	changed chan struct{} // closed and replaced on every change
}

type rawMessage struct {
	wire.Message
	at   time.Time
	push bool // a push (false: in a sync page)
}

// rawLogin connects to addr and logs user in with device (password
// "pw-"+user, as the cluster tests register it), then syncs the inbox
// from after, so that pushes flow.
func rawLogin(t testing.TB, addr, user, device string, after uint64) *rawSession {
	t.Helper()
	r, final := rawLoginUpTo(t, addr, user, device)
	if f := r.call(wire.TLoginFinish, &wire.LoginFinish{ClientFinal: final}); f.Type != wire.TLoginOK {
		t.Fatalf("login finish: %s", describe(f))
	}
	r.sync(after)
	return r
}

// rawLoginUpTo connects and runs the SCRAM exchange up to its last step,
// whose message it returns.
func rawLoginUpTo(t testing.TB, addr, user, device string) (*rawSession, string) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	r := &rawSession{t: t, nc: nc, waiting: map[uint32]chan wire.Frame{}, changed: make(chan struct{})}
	t.Cleanup(func() { nc.Close() })
	go r.read()
	if f := r.call(wire.THello, &wire.Hello{Proto: wire.Magic, Version: wire.Version, Client: "rawsession"}); f.Type != wire.TWelcome {
		t.Fatalf("hello: %s", describe(f))
	}
	cl, err := scram.SHA256.NewClient(strings.ToLower(user), "pw-"+user, "")
	if err != nil {
		t.Fatal(err)
	}
	conv := cl.NewConversation()
	first, _ := conv.Step("")
	f := r.call(wire.TLoginStart, &wire.LoginStart{User: user, Device: device, ClientFirst: first})
	var ch wire.LoginChallenge
	if f.Type != wire.TLoginChallenge || wire.Decode(f.Body, &ch) != nil {
		t.Fatalf("login start: %s", describe(f))
	}
	final, err := conv.Step(ch.ServerFirst)
	if err != nil {
		t.Fatal(err)
	}
	return r, final
}

// sync reads the inbox after `after` until a page says there is no more.
func (r *rawSession) sync(after uint64) {
	for {
		f := r.call(wire.TSync, &wire.Sync{After: after})
		var sr wire.SyncReply
		if f.Type != wire.TSyncReply || wire.Decode(f.Body, &sr) != nil {
			r.t.Fatalf("sync: %s", describe(f))
		}
		now := time.Now()
		r.mu.Lock()
		for _, m := range sr.Messages {
			r.got = append(r.got, rawMessage{Message: m, at: now})
		}
		r.changedLocked()
		r.mu.Unlock()
		if !sr.More {
			return
		}
		after = sr.Next - 1
	}
}

// send sends one message and returns the reply frame (a zero frame if the
// connection ended first).
func (r *rawSession) send(to string, cmid uint64, body string) wire.Frame {
	return r.callQuiet(wire.TSend, &wire.Send{To: to, CMID: cmid, Body: []byte(body)})
}

func (r *rawSession) call(typ wire.Type, body any) wire.Frame {
	r.t.Helper()
	f := r.callQuiet(typ, body)
	if f.Type == 0 {
		r.t.Fatalf("%s: connection ended (goodbye %s)", typ, r.goodbye().Name())
	}
	return f
}

// callQuiet sends a request and waits (20 s at most) for its reply; a
// zero frame means the connection ended or no reply came.
func (r *rawSession) callQuiet(typ wire.Type, body any) wire.Frame {
	r.mu.Lock()
	r.rid++
	rid := r.rid
	ch := make(chan wire.Frame, 1)
	r.waiting[rid] = ch
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return wire.Frame{}
	}
	b, err := wire.AppendFrame(nil, typ, rid, body)
	if err != nil {
		r.t.Fatalf("encode %s: %v", typ, err)
	}
	r.wr.Lock()
	r.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err = r.nc.Write(b)
	r.wr.Unlock()
	if err != nil {
		return wire.Frame{}
	}
	select {
	case f := <-ch:
		return f
	case <-time.After(20 * time.Second):
		return wire.Frame{}
	}
}

func (r *rawSession) read() {
	rd := wire.NewReader(r.nc, 64<<20)
	defer func() {
		r.mu.Lock()
		r.closed = true
		for rid, ch := range r.waiting {
			close(ch)
			delete(r.waiting, rid)
		}
		r.changedLocked()
		r.mu.Unlock()
	}()
	for {
		f, err := rd.ReadFrame()
		if err != nil {
			return
		}
		f.Body = append([]byte(nil), f.Body...)
		r.mu.Lock()
		switch {
		case f.RID != 0:
			if ch := r.waiting[f.RID]; ch != nil {
				delete(r.waiting, f.RID)
				ch <- f
			}
		case f.Type == wire.TMessage:
			var m wire.Message
			if wire.Decode(f.Body, &m) == nil {
				r.got = append(r.got, rawMessage{Message: m, at: time.Now(), push: true})
			}
		case f.Type == wire.TGoodbye:
			var g wire.Goodbye
			if wire.Decode(f.Body, &g) == nil {
				r.bye = g.Code
			}
		default:
			r.pushes = append(r.pushes, f)
		}
		r.changedLocked()
		r.mu.Unlock()
	}
}

func (r *rawSession) changedLocked() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// waitFor polls cond (under the session's lock) until it holds or d
// passes; it reports whether it held.
func (r *rawSession) waitFor(d time.Duration, cond func(r *rawSession) bool) bool {
	deadline := time.After(d)
	for {
		r.mu.Lock()
		ok := cond(r)
		ch := r.changed
		r.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ch:
		case <-deadline:
			return false
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// messages returns a copy of what was received.
func (r *rawSession) messages() []rawMessage {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]rawMessage(nil), r.got...)
}

// presence returns the presence pushes received, as "user=status".
func (r *rawSession) presence() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, f := range r.pushes {
		var p wire.Presence
		if f.Type == wire.TPresence && wire.Decode(f.Body, &p) == nil {
			out = append(out, p.User+"="+p.Status)
		}
	}
	return out
}

func (r *rawSession) goodbye() wire.Code {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bye
}

func (r *rawSession) ended() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// checkStream asserts that the session received exactly the sequence
// numbers 1..n, each once, in order.
func checkStream(t testing.TB, got []rawMessage, n int) {
	t.Helper()
	if len(got) != n {
		seqs := make([]uint64, len(got))
		for i, m := range got {
			seqs[i] = m.Seq
		}
		t.Fatalf("received %d messages, want %d: seqs %v", len(got), n, seqs)
	}
	for i, m := range got {
		if m.Seq != uint64(i+1) {
			t.Fatalf("message %d has seq %d: out of order, repeated or a gap", i, m.Seq)
		}
	}
}

func describe(f wire.Frame) string {
	if f.Type == wire.TError {
		var e wire.Error
		if wire.Decode(f.Body, &e) == nil {
			return e.Code.Name() + ": " + e.Message
		}
	}
	if f.Type == 0 {
		return "no reply"
	}
	return f.Type.String()
}

// errCode is the error code of a reply frame (CodeOK if it is no error).
func errCode(f wire.Frame) wire.Code {
	var e wire.Error
	if f.Type == wire.TError && wire.Decode(f.Body, &e) == nil {
		return e.Code
	}
	return wire.CodeOK
}
