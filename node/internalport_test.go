package node

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"errors"
	"io"
	"math/big"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/roamhq/roam/hlr"
	"github.com/roamhq/roam/node/mux"
	"github.com/roamhq/roam/node/pki"
	"github.com/roamhq/roam/node/raftnet"
)

// The attacks of issue 11 on the internal port of a real node: a peer
// outside the cluster, and a member speaking as another member.

var (
	clusterKeyA = bytes.Repeat([]byte{0xA}, 32)
	clusterKeyB = bytes.Repeat([]byte{0xB}, 32) // another cluster's
)

// hugeTerm is the term of forged Raft messages: any node that believed
// it would depose its leader.
const hugeTerm = 1 << 60

// outsider dials the internal port without the cluster's credentials.
type outsider func(t *testing.T, addr string) net.Conn

func outsiders(t *testing.T) map[string]outsider {
	tlsDial := func(cert *tls.Certificate) outsider {
		return func(t *testing.T, addr string) net.Conn {
			cfg := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13, NextProtos: []string{pki.InternalALPN}}
			if cert != nil {
				cfg.Certificates = []tls.Certificate{*cert}
			}
			raw, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			c := tls.Client(raw, cfg)
			c.SetDeadline(time.Now().Add(10 * time.Second))
			c.Handshake() // may fail; reads then fail too
			c.SetDeadline(time.Time{})
			return c
		}
	}
	foreignCA, err := pki.DeriveCA(clusterKeyB)
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := pki.IssueNode(foreignCA, "n2", nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]outsider{
		"plaintext": func(t *testing.T, addr string) net.Conn {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			return c
		},
		"no certificate":                tlsDial(nil),
		"another cluster's certificate": tlsDial(&foreign),
		"self-signed certificate":       tlsDial(selfSignedNode("n2")),
	}
}

func selfSignedNode(id string) *tls.Certificate {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: id},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		URIs:        []*url.URL{pki.NodeURI(id)}, IsCA: true, BasicConstraintsValid: true}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv}
}

// answer reads c until it closes and returns the application bytes that
// came back; on a plaintext connection TLS alert records do not count.
// It fails the test if the server keeps the connection open silently.
func answer(t *testing.T, c net.Conn) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the node kept the connection open (read %d bytes)", len(got))
	}
	if _, ok := c.(*tls.Conn); ok {
		return got
	}
	var out []byte
	for len(got) > 0 {
		if len(got) >= 5 && got[0] == 21 { // a TLS alert record
			n := int(got[3])<<8 | int(got[4])
			if len(got) >= 5+n {
				got = got[5+n:]
				continue
			}
		}
		out, got = append(out, got...), nil
	}
	return out
}

// gateFrame encodes one gate frame: length, type, id, msgpack body.
func gateFrame(t *testing.T, typ byte, id uint32, body any) []byte {
	t.Helper()
	b, err := msgpack.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	f := binary.BigEndian.AppendUint32(nil, uint32(5+len(b)))
	f = append(f, typ)
	f = binary.BigEndian.AppendUint32(f, id)
	return append(f, b...)
}

const (
	gateHello = 1               // the gate's hello (node/gate/kind.go)
	gateQuery = byte(kindQuery) // node/kinds.go
)

// gateProbe says hello as claimed and asks for alice's account: what a
// peer would read credentials with.
func gateProbe(t *testing.T, claimed string) []byte {
	hello := gateFrame(t, gateHello, 0, map[string]any{"n": claimed})
	q := gateFrame(t, gateQuery, 1, map[string]any{"p": uint16(0), "q": hlr.Query{Kind: hlr.QueryAccount, User: "alice"}})
	return append(hello, q...)
}

// hbProbe is a heartbeat frame with a huge term for every partition,
// claiming Raft id claimed.
func hbProbe(t *testing.T, partitions int, claimed, addr string) []byte {
	return ForgedHeartbeats(partitions, hugeTerm, claimed, addr)
}

// forgeVote sends a RequestVote with a huge term for partition pid over
// connections from dial, with raftnet's own client, and returns its error
// (nil: the node answered).
func forgeVote(dial func() net.Conn, addr string, pid uint16) error {
	cfg := raftnet.DefaultConfig()
	cfg.LocalID, cfg.LocalAddr, cfg.Insecure = "evil", "10.6.6.6:6666", true
	cfg.Timeout, cfg.HeartbeatTimeout = 5*time.Second, 5*time.Second
	cfg.Dial = func(_ context.Context, _ string, stream uint16) (net.Conn, error) {
		c := dial()
		if _, err := c.Write(mux.AppendHeader(nil, mux.KindRaftNet, stream)); err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	}
	rn, err := raftnet.New(cfg)
	if err != nil {
		return err
	}
	defer rn.Close()
	trans, err := rn.Transport(pid)
	if err != nil {
		return err
	}
	var resp raft.RequestVoteResponse
	return trans.RequestVote("n1", raft.ServerAddress(addr), &raft.RequestVoteRequest{
		RPCHeader: raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("evil"), Addr: []byte("10.6.6.6:6666")},
		Term:      hugeTerm, LastLogIndex: 1 << 40, LastLogTerm: hugeTerm,
	}, &resp)
}

func terms(n *Node) map[uint16]uint64 {
	out := map[uint16]uint64{}
	for pid := range n.Partitions() {
		if r, ok := n.Raft(uint16(pid)); ok {
			out[uint16(pid)] = r.CurrentTerm()
		}
	}
	return out
}

func startKeyed(t *testing.T, mod func(*Config)) *Node {
	cfg := testConfig(t, t.TempDir())
	cfg.NodeID = "n1"
	cfg.ClusterKey = clusterKeyA
	cfg.MuxHeaderTimeout = time.Second // a short probe waits this long for its close
	if mod != nil {
		mod(&cfg)
	}
	n := startNode(t, cfg)
	t.Cleanup(func() { n.Shutdown() })
	return n
}

// TestInternalPort_OutsidersGetNothingOnAnyKind: without a certificate
// of the cluster (none at all, another cluster's, or a self-signed one),
// a peer that writes a mux header and a real request for each kind — a
// Raft RequestVote with a huge term for a partition, a gate hello and an
// account query, an admin status request, a heartbeat batch with a huge
// term — gets nothing back but a TLS alert or a close, and no partition's
// term moves. The control shows the same probes are answered by a node
// whose internal port is plaintext, so the test can fail.
func TestInternalPort_OutsidersGetNothingOnAnyKind(t *testing.T) {
	n := startKeyed(t, nil)
	addr := n.InternalAddr()
	before := terms(n)
	for name, dial := range outsiders(t) {
		t.Run(name, func(t *testing.T) {
			if err := forgeVote(func() net.Conn { return dial(t, addr) }, addr, 0); err == nil {
				t.Error("R: the forged RequestVote was answered")
			}
			for _, p := range []struct {
				kind  byte
				arg   uint16
				probe []byte
			}{
				{mux.KindGate, 1, gateProbe(t, "n2")},
				{mux.KindAdmin, 0, nil},
				{mux.KindRaftNet, raftnet.StreamRPC, hbProbe(t, n.Partitions(), "n2", "10.6.6.6:6666")},
			} {
				c := dial(t, addr)
				c.Write(append(mux.AppendHeader(nil, p.kind, p.arg), p.probe...))
				if got := answer(t, c); len(got) > 0 {
					t.Errorf("%c: the node answered %d bytes: %q", p.kind, len(got), got)
				}
				c.Close()
			}
		})
	}
	if after := terms(n); len(after) != len(before) {
		t.Fatalf("partitions open: %d before, %d after", len(before), len(after))
	} else {
		for pid, term := range before {
			if after[pid] != term {
				t.Errorf("partition %d: term %d → %d", pid, term, after[pid])
			}
		}
	}
	if n.mux.Refused() == 0 {
		t.Fatal("the mux counted no refused handshakes")
	}

	t.Run("control: a plaintext internal port answers every probe", func(t *testing.T) {
		p := startKeyed(t, func(c *Config) { c.InsecureInternalPlaintext = true })
		paddr := p.InternalAddr()
		plain := outsiders(t)["plaintext"]
		if err := forgeVote(func() net.Conn { return plain(t, paddr) }, paddr, 0); err != nil {
			t.Errorf("R: %v", err)
		}
		for _, probe := range []struct {
			kind  byte
			arg   uint16
			bytes []byte
		}{
			{mux.KindGate, 1, gateProbe(t, "n2")},
			{mux.KindAdmin, 0, nil},
			{mux.KindRaftNet, raftnet.StreamRPC, hbProbe(t, p.Partitions(), "n2", "10.6.6.6:6666")},
		} {
			c := plain(t, paddr)
			c.Write(append(mux.AppendHeader(nil, probe.kind, probe.arg), probe.bytes...))
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if k, err := c.Read(make([]byte, 64)); k == 0 {
				t.Errorf("%c: no answer from a plaintext port: %v", probe.kind, err)
			}
			c.Close()
		}
	})
}

// TestInternalPort_NodeCertificateCannotSpeakAsAnotherNode: a member's
// certificate (node n2 of the same cluster) does not let it say hello to
// the gate as n1 or n3 (closed before its query is answered), nor send
// heartbeats under another Raft id (refused; no term moves). Said as
// itself, the same gate query is answered.
func TestInternalPort_NodeCertificateCannotSpeakAsAnotherNode(t *testing.T) {
	n := startKeyed(t, nil)
	addr := n.InternalAddr()
	n2, err := pki.Derived(clusterKeyA, "n2")
	if err != nil {
		t.Fatal(err)
	}
	sec := mux.Security{Identity: n2}
	dial := func(kind byte, arg uint16) net.Conn {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := mux.Dial(ctx, sec, addr, kind, arg)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	before := terms(n)

	for _, claimed := range []string{"n1", "n3"} {
		c := dial(mux.KindGate, 1)
		c.Write(gateProbe(t, claimed))
		if got := answer(t, c); len(got) > 0 {
			t.Errorf("gate hello as %s with n2's certificate was answered: %q", claimed, got)
		}
		c.Close()
	}
	if st := n.gate.Stats(); st.Impostors != 2 {
		t.Errorf("gate impostors counted: %d", st.Impostors)
	}

	for _, claimed := range []string{"n1", "n3"} {
		c := dial(mux.KindRaftNet, raftnet.StreamRPC)
		c.SetDeadline(time.Now().Add(10 * time.Second))
		c.Write(hbProbe(t, n.Partitions(), claimed, addr))
		rd := bufio.NewReader(c)
		for range n.Partitions() {
			_, _, r, remote, err := raftnet.ReadHeartbeatAnswer(rd)
			if err != nil {
				t.Fatal(err)
			}
			if remote == nil || r.Success {
				t.Errorf("heartbeat as %s with n2's certificate accepted: %+v", claimed, r)
			}
		}
		c.Close()
	}
	if got := n.rn.Stats().Refused; got != uint64(2*n.Partitions()) {
		t.Errorf("refused heartbeats: %d", got)
	}
	for pid, term := range terms(n) {
		if term != before[pid] {
			t.Errorf("partition %d: term %d → %d", pid, before[pid], term)
		}
		if r, _ := n.Raft(pid); r.State() != raft.Leader {
			t.Errorf("partition %d: n1 is %v", pid, r.State())
		}
	}

	// Said as itself, n2 is served: the refusals above were about the
	// identity, not the connection.
	c := dial(mux.KindGate, 1)
	c.Write(gateProbe(t, "n2"))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var hdr [9]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil || hdr[4] != 4 /* reply */ {
		t.Fatalf("honest hello: %v %v", hdr, err)
	}
	c.Close()
}
