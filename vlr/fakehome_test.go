package vlr_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"sync"

	"github.com/roamhq/roam/hlr"
)

// fakeHome is the home register of the connection fuzz targets, and the
// only fake Home in the project: the targets check a connection's
// decoding and dispatch, not the cluster, so the home register only has
// to answer every command and query the way a real one could. It knows
// two accounts, alice and bob, who are friends; alice's inbox holds three
// messages from bob; resumes of alice with fuzzToken succeed.
type fakeHome struct {
	mu    sync.Mutex
	epoch uint64
	seq   uint64
}

// fuzzToken is the session token the fuzz harness resumes alice with.
var fuzzToken = bytes.Repeat([]byte{0x5a}, 16)

func (h *fakeHome) Exec(ctx context.Context, cmd hlr.Cmd) (hlr.Result, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch cmd.Op {
	case hlr.OpRegister:
		if cmd.User == "alice" || cmd.User == "bob" {
			return hlr.Result{Status: hlr.StatusExists}, nil
		}
	case hlr.OpResume:
		tok := sha256.Sum256(fuzzToken)
		if cmd.User != "alice" || !bytes.Equal(cmd.Token, tok[:]) {
			return hlr.Result{Status: hlr.StatusNotFound}, nil
		}
		h.epoch++
		return hlr.Result{Status: hlr.StatusOK, Epoch: h.epoch}, nil
	case hlr.OpLogin:
		h.epoch++
		return hlr.Result{Status: hlr.StatusOK, Epoch: h.epoch}, nil
	case hlr.OpSend:
		if cmd.Peer != "alice" || cmd.User != "bob" {
			return hlr.Result{Status: hlr.StatusRefused}, nil
		}
		h.seq++
		return hlr.Result{Status: hlr.StatusOK, MsgID: h.seq, Seq: h.seq}, nil
	case hlr.OpFriendAccept, hlr.OpFriendDecline:
		return hlr.Result{Status: hlr.StatusNoRequest}, nil
	case hlr.OpRoleClaim:
		h.seq++
		return hlr.Result{Claim: &hlr.RoleClaim{NS: cmd.NS, Name: cmd.RoleName, Owner: cmd.User, ID: h.seq}}, nil
	}
	return hlr.Result{Status: hlr.StatusOK}, nil
}

func (h *fakeHome) Query(ctx context.Context, q hlr.Query) (*hlr.Answer, error) {
	a := &hlr.Answer{}
	switch q.Kind {
	case hlr.QueryAccount:
		if q.User == "alice" || q.User == "bob" {
			a.Account = &hlr.Account{User: q.User, Salt: make([]byte, 16), Iters: 4096,
				StoredKey: make([]byte, 32), ServerKey: make([]byte, 32), CredGen: 1, CreatedMS: 1}
		}
	case hlr.QueryFriends:
		switch q.User {
		case "alice":
			a.Friends = &hlr.FriendSet{Friends: []string{"bob"}, Incoming: []string{"carol"}}
		case "bob":
			a.Friends = &hlr.FriendSet{Friends: []string{"alice"}}
		}
	case hlr.QueryInbox:
		in := &hlr.Inbox{Head: 3}
		for s := q.After + 1; s <= in.Head && len(in.Messages) < max(q.Limit, 1); s++ {
			in.Messages = append(in.Messages, hlr.Message{Seq: s, ID: 100 + s, From: "bob", FromDevice: "d", To: q.User,
				Body: []byte("hello"), SentMS: 1, ExpiresMS: 1 << 50})
		}
		in.More = len(in.Messages) > 0 && in.Messages[len(in.Messages)-1].Seq < in.Head
		a.Inbox = in
	case hlr.QueryEdge:
		if q.User == "alice" && q.Peer == "bob" || q.User == "bob" && q.Peer == "alice" {
			a.Edge = hlr.EdgeFriend
		}
	}
	return a, nil
}
