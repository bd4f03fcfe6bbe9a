package client

import (
	"crypto/rand"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/xdg-go/scram"

	"github.com/roamhq/roam/wire"
)

// fakeCluster is the shared state of one or more fake nodes: a tiny,
// single-process imitation of the server side of the protocol, enough to
// exercise the client's logic (sync, dedup, retries, reconnects) without
// a real node.
type fakeCluster struct {
	mu    sync.Mutex
	users map[string]*fakeUser
	nodes []*fakeNode
	// Hooks, called with mu held.
	onSend   func(n int, s *wire.Send) fakeAction // n counts TSend frames
	sends    []wire.Send
	skipPush func(seq uint64) bool
	pings    int
	acks     []uint64
	badProof bool // send a wrong server-final
	page     int  // messages per sync page
	// dropAfterLogin closes every connection right after its LoginOK.
	dropAfterLogin bool
	// redirect, if set, is asked after every LoginOK (with the node's
	// index and the logins so far): a non-nil push is sent, then a
	// goodbye 406 to its address (pick_test.go).
	redirect   func(node, logins int) *wire.Redirect
	logins     int      // LoginOKs sent (logins and resumes)
	syncLimits []uint32 // the limit of each Sync
	hellos     []wire.Hello
	bigFriends int         // friend_list answers with this many made-up friends
	sendAt     []time.Time // when each TSend frame arrived
	// resumeCode, if set, answers every Resume with this error.
	resumeCode wire.Code
	resumes    int // Resume frames received
	// Groups (fake_group_test.go).
	groups     map[string]*fakeGroup
	groupAcks  []wire.GroupAck
	groupSyncs []wire.GroupSync
	// Scenes (fake_scene_test.go).
	scene fakeScenes
}

type fakeAction int

const (
	fakeNormal     fakeAction = iota
	fakeCommitDrop            // commit, then drop the connection without a reply
	fakeUnavailable
	fakeRateLimited
	fakeNoReply // neither reply nor commit
)

type fakeUser struct {
	name    string
	creds   wire.Credentials
	inbox   []wire.Message
	cursors map[string]uint64
	tokens  map[string][]byte
	dedup   map[string]wire.SendAck
	authAt  map[string]time.Time
}

type fakeNode struct {
	cl   *fakeCluster
	id   string
	ln   net.Listener
	wg   sync.WaitGroup
	mu   sync.Mutex
	live map[*fakeConn]struct{}
}

type fakeConn struct {
	n      *fakeNode
	nc     net.Conn
	wmu    sync.Mutex
	user   string
	device string
	auth   string
	synced bool
	next   uint64 // next seq to push
	login  *scram.ServerConversation
	luser  string
	ldev   string
	// gsynced: the groups whose pushes flow on this connection.
	gsynced map[string]bool
}

func newFakeCluster(t *testing.T, nodes int) *fakeCluster {
	t.Helper()
	cl := &fakeCluster{users: make(map[string]*fakeUser), page: 100}
	for i := 0; i < nodes; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		n := &fakeNode{cl: cl, id: fmt.Sprintf("fake%d", i), ln: ln, live: make(map[*fakeConn]struct{})}
		cl.nodes = append(cl.nodes, n)
		n.wg.Add(1)
		go n.accept()
	}
	t.Cleanup(cl.close)
	return cl
}

func (cl *fakeCluster) addr(i int) string { return cl.nodes[i].ln.Addr().String() }

func (cl *fakeCluster) close() {
	for _, n := range cl.nodes {
		n.stop()
	}
}

// stop closes the node's listener and connections.
func (n *fakeNode) stop() {
	n.ln.Close()
	n.dropAll()
	n.wg.Wait()
}

func (n *fakeNode) dropAll() {
	n.mu.Lock()
	for c := range n.live {
		c.nc.Close()
	}
	n.mu.Unlock()
}

func (n *fakeNode) accept() {
	defer n.wg.Done()
	for {
		nc, err := n.ln.Accept()
		if err != nil {
			return
		}
		c := &fakeConn{n: n, nc: nc}
		n.mu.Lock()
		n.live[c] = struct{}{}
		n.mu.Unlock()
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			c.serve()
			n.mu.Lock()
			delete(n.live, c)
			n.mu.Unlock()
		}()
	}
}

func (c *fakeConn) write(t wire.Type, rid uint32, body any) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	b, err := wire.AppendFrame(nil, t, rid, body)
	if err != nil {
		panic(err)
	}
	c.nc.Write(b)
}

func (c *fakeConn) fail(rid uint32, code wire.Code) {
	c.write(wire.TError, rid, &wire.Error{Code: code, Message: code.Text()})
}

// goodbye sends a goodbye and closes the connection.
func (c *fakeConn) goodbye(code wire.Code, redirect string) {
	c.write(wire.TGoodbye, 0, &wire.Goodbye{Code: code, Message: code.Text(), Redirect: redirect})
	c.nc.Close()
}

// conns returns the node's connections with a session of user.
func (n *fakeNode) conns(user string) []*fakeConn {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []*fakeConn
	for c := range n.live {
		if c.user == user {
			out = append(out, c)
		}
	}
	return out
}

func (c *fakeConn) serve() {
	defer c.nc.Close()
	rd := wire.NewReader(c.nc, 0)
	for {
		f, err := rd.ReadFrame()
		if err != nil {
			return
		}
		body := wire.NewBody(f.Type)
		if body == nil || wire.Decode(f.Body, body) != nil {
			c.fail(f.RID, wire.CodeBadBody)
			return
		}
		if !c.handle(f.Type, f.RID, body) {
			return
		}
	}
}

func (c *fakeConn) handle(t wire.Type, rid uint32, body any) bool {
	cl := c.n.cl
	cl.mu.Lock()
	defer cl.mu.Unlock()
	switch t {
	case wire.THello:
		h := body.(*wire.Hello)
		cl.hellos = append(cl.hellos, *h)
		if h.Proto != wire.Magic || rid != 1 {
			c.fail(rid, wire.CodeBadHandshake)
			return false
		}
		var nodes []string
		for _, n := range cl.nodes {
			nodes = append(nodes, n.ln.Addr().String())
		}
		c.write(wire.TWelcome, rid, &wire.Welcome{Version: 1, Node: c.n.id, Nodes: nodes, MaxFrame: 65536, MaxBody: 1440, ScramIters: 4096, HeartbeatMS: 50})
	case wire.TPing:
		cl.pings++
		c.write(wire.TPong, rid, &wire.Pong{ServerMS: time.Now().UnixMilli()})
	case wire.TRegister:
		r := body.(*wire.Register)
		if _, ok := cl.users[r.User]; ok {
			c.fail(rid, wire.CodeNameTaken)
			return true
		}
		if len(r.Credentials.Salt) < 16 || r.Credentials.Iters < 4096 || len(r.Credentials.StoredKey) != 32 || len(r.Credentials.ServerKey) != 32 {
			c.fail(rid, wire.CodeBadRequest)
			return true
		}
		cl.users[r.User] = &fakeUser{name: r.User, creds: r.Credentials, cursors: map[string]uint64{}, tokens: map[string][]byte{}, dedup: map[string]wire.SendAck{}, authAt: map[string]time.Time{}}
		c.write(wire.TOK, rid, &wire.Empty{})
	case wire.TLoginStart:
		r := body.(*wire.LoginStart)
		u := cl.users[r.User]
		srv, _ := scram.SHA256.NewServer(func(string) (scram.StoredCredentials, error) {
			if u == nil {
				return scram.StoredCredentials{KeyFactors: scram.KeyFactors{Salt: "0123456789abcdef", Iters: 4096}, StoredKey: make([]byte, 32), ServerKey: make([]byte, 32)}, nil
			}
			return scram.StoredCredentials{KeyFactors: scram.KeyFactors{Salt: string(u.creds.Salt), Iters: int(u.creds.Iters)}, StoredKey: u.creds.StoredKey, ServerKey: u.creds.ServerKey}, nil
		})
		c.login = srv.NewConversation()
		c.luser, c.ldev = r.User, r.Device
		first, err := c.login.Step(r.ClientFirst)
		if err != nil {
			c.fail(rid, wire.CodeBadRequest)
			return true
		}
		c.write(wire.TLoginChallenge, rid, &wire.LoginChallenge{ServerFirst: first})
	case wire.TLoginFinish:
		r := body.(*wire.LoginFinish)
		if c.login == nil {
			c.fail(rid, wire.CodeLoginStep)
			return true
		}
		final, err := c.login.Step(r.ClientFinal)
		u := cl.users[c.luser]
		if err != nil || !c.login.Valid() || u == nil {
			c.fail(rid, wire.CodeAuthFailed)
			return true
		}
		if cl.badProof {
			final = "v=" + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
		}
		u.authAt[c.ldev] = time.Now()
		c.attach(rid, u, c.ldev, "scram", final)
	case wire.TResume:
		r := body.(*wire.Resume)
		cl.resumes++
		if cl.resumeCode != 0 {
			c.fail(rid, cl.resumeCode)
			return true
		}
		u := cl.users[r.User]
		if u == nil || string(u.tokens[r.Device]) != string(r.Token) || len(r.Token) != 16 {
			c.fail(rid, wire.CodeSessionInvalid)
			return true
		}
		c.attach(rid, u, r.Device, "resume", "")
	default:
		if c.user == "" {
			c.fail(rid, wire.CodeNotLoggedIn)
			return true
		}
		return c.handleSession(t, rid, body)
	}
	return true
}

// attach opens a session (with cl.mu held), cancelling the device's
// session elsewhere.
func (c *fakeConn) attach(rid uint32, u *fakeUser, device, auth, final string) {
	cl := c.n.cl
	for _, n := range cl.nodes {
		for _, o := range n.conns(u.name) {
			if o != c && o.device == device {
				o.n.mu.Lock()
				o.user = ""
				o.n.mu.Unlock()
				o.goodbye(wire.CodeSessionReplaced, "")
			}
		}
	}
	tok := make([]byte, 16)
	rand.Read(tok)
	u.tokens[device] = tok
	c.n.mu.Lock()
	c.user, c.device, c.auth, c.synced = u.name, device, auth, false
	c.n.mu.Unlock()
	c.write(wire.TLoginOK, rid, &wire.LoginOK{ServerFinal: final, User: u.name, Device: device, Token: tok, HeartbeatMS: 50, Epoch: 1, Cursor: u.cursors[device]})
	cl.logins++
	if cl.dropAfterLogin {
		c.nc.Close()
	}
	if cl.redirect != nil {
		for i, n := range cl.nodes {
			if n == c.n {
				if r := cl.redirect(i, cl.logins); r != nil {
					c.write(wire.TRedirect, 0, r)
					c.goodbye(wire.CodeRedirect, r.Addr)
				}
			}
		}
	}
}

func (c *fakeConn) handleSession(t wire.Type, rid uint32, body any) bool {
	cl := c.n.cl
	u := cl.users[c.user]
	switch t {
	case wire.TWhoami:
		c.write(wire.TWhoamiReply, rid, &wire.WhoamiReply{User: c.user, Device: c.device, Node: c.n.id, Auth: c.auth, SinceMS: time.Now().UnixMilli()})
	case wire.TLogout:
		delete(u.tokens, c.device)
		c.write(wire.TOK, rid, &wire.Empty{})
		c.goodbye(wire.CodeLoggedOut, "")
		return false
	case wire.TFriendList:
		r := wire.Friends{Friends: []wire.Friend{}, Incoming: []string{}, Outgoing: []string{}, Blocked: []string{}}
		for i := 0; i < cl.bigFriends; i++ {
			r.Friends = append(r.Friends, wire.Friend{User: fmt.Sprintf("friend-number-%06d", i), Status: "offline"})
		}
		c.write(wire.TFriends, rid, &r)
	case wire.TAck:
		seq := body.(*wire.Ack).Seq
		cl.acks = append(cl.acks, seq)
		if seq > u.cursors[c.device] {
			u.cursors[c.device] = seq
		}
	case wire.TSync:
		after := body.(*wire.Sync).After
		page := cl.page
		if l := int(body.(*wire.Sync).Limit); l > 0 && l < page {
			page = l
		}
		cl.syncLimits = append(cl.syncLimits, body.(*wire.Sync).Limit)
		r := wire.SyncReply{Messages: []wire.Message{}}
		for _, m := range u.inbox {
			if m.Seq > after && len(r.Messages) < page {
				r.Messages = append(r.Messages, m)
			}
		}
		r.Next = after + 1
		if len(r.Messages) > 0 {
			r.Next = r.Messages[len(r.Messages)-1].Seq + 1
		}
		r.More = r.Next <= uint64(len(u.inbox))
		c.synced = !r.More
		c.next = r.Next
		c.write(wire.TSyncReply, rid, &r)
	case wire.TSend:
		s := body.(*wire.Send)
		cl.sends = append(cl.sends, *s)
		cl.sendAt = append(cl.sendAt, time.Now())
		act := fakeNormal
		if cl.onSend != nil {
			act = cl.onSend(len(cl.sends), s)
		}
		switch act {
		case fakeUnavailable:
			c.fail(rid, wire.CodeUnavailable)
			return true
		case fakeRateLimited:
			c.write(wire.TError, rid, &wire.Error{Code: wire.CodeRateLimited, Message: "slow down", RetryAfterMS: 1500})
			return true
		case fakeNoReply:
			return true
		}
		to := cl.users[s.To]
		if to == nil {
			c.fail(rid, wire.CodeRefused)
			return true
		}
		key := fmt.Sprintf("%s/%s/%d", c.user, c.device, s.CMID)
		ack, dup := to.dedup[key]
		if dup {
			ack.Dup = true
		} else {
			m := wire.Message{Seq: uint64(len(to.inbox)) + 1, ID: uint64(1000 + len(cl.sends)), From: c.user, FromDevice: c.device, Body: s.Body, SentMS: time.Now().UnixMilli()}
			to.inbox = append(to.inbox, m)
			ack = wire.SendAck{ID: m.ID, Seq: m.Seq}
			to.dedup[key] = ack
			cl.pushLocked(to, m)
		}
		if act == fakeCommitDrop {
			c.nc.Close()
			return false
		}
		c.write(wire.TSendAck, rid, &ack)
	default:
		if !c.handleGroup(t, rid, body) && !c.handleScene(t, rid, body) {
			c.fail(rid, wire.CodeBadRequest)
		}
	}
	return true
}

// pushLocked pushes m to the synced sessions of u.
func (cl *fakeCluster) pushLocked(u *fakeUser, m wire.Message) {
	if cl.skipPush != nil && cl.skipPush(m.Seq) {
		return
	}
	for _, n := range cl.nodes {
		for _, o := range n.conns(u.name) {
			if o.synced {
				o.write(wire.TMessage, 0, &m)
			}
		}
	}
}

// deliver appends a message from "system" to user's inbox and pushes it.
func (cl *fakeCluster) deliver(user, text string) uint64 {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	u := cl.users[user]
	m := wire.Message{Seq: uint64(len(u.inbox)) + 1, ID: uint64(len(u.inbox)) + 1, From: "system", FromDevice: "d", Body: []byte(text)}
	u.inbox = append(u.inbox, m)
	cl.pushLocked(u, m)
	return m.Seq
}

// pushRaw pushes a message frame as it is to user's sessions.
func (cl *fakeCluster) pushRaw(user string, m wire.Message) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	for _, n := range cl.nodes {
		for _, o := range n.conns(user) {
			o.write(wire.TMessage, 0, &m)
		}
	}
}

// addUser registers user directly.
func (cl *fakeCluster) addUser(t *testing.T, user, password string) {
	t.Helper()
	cr, err := DeriveCredentials(user, password, 4096)
	if err != nil {
		t.Fatal(err)
	}
	cl.mu.Lock()
	defer cl.mu.Unlock()
	cl.users[user] = &fakeUser{name: user, creds: cr, cursors: map[string]uint64{}, tokens: map[string][]byte{}, dedup: map[string]wire.SendAck{}, authAt: map[string]time.Time{}}
}

func (cl *fakeCluster) cursor(user, device string) uint64 {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.users[user].cursors[device]
}
