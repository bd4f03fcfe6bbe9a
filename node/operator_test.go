package node_test

import (
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/roamhq/roam/node"
	"github.com/roamhq/roam/node/clustertest"
	"github.com/roamhq/roam/node/pki"
)

// operatorIdentity issues node id's certificate from ca, as roamd cert
// create-node does, and loads it as an operator-mode identity.
func operatorIdentity(t *testing.T, ca *pki.CA, id string) *pki.Identity {
	t.Helper()
	cert, err := pki.IssueNode(ca, id, []string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ident, err := pki.NewIdentity(ca.Cert, cert)
	if err != nil {
		t.Fatal(err)
	}
	return ident
}

// TestOperatorMode_ClusterFormsWithTheOperatorsCA: three nodes with
// certificates from an operator's CA (no CA derived from the cluster key)
// replicate every partition and serve clients across nodes.
func TestOperatorMode_ClusterFormsWithTheOperatorsCA(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	ca, err := pki.NewCA("test operator", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]*pki.Identity{}
	for i := range 3 {
		id := fmt.Sprintf("node%d", i)
		ids[id] = operatorIdentity(t, ca, id)
	}
	c := clustertest.New(t, 3, clustertest.Options{Configure: func(i int, cfg *node.Config) {
		fastSends(i, cfg)
		cfg.InternalIdentity = ids[cfg.NodeID]
	}})
	a := account(t, c, 0, "alice")
	b := account(t, c, 2, "bob")
	befriend(t, a, b)
	if _, err := a.Send(ctx30(), "bob", []byte("over the operator's TLS")); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, b, 1); string(got[0].Body) != "over the operator's TLS" {
		t.Fatalf("bob got %q", got[0].Body)
	}
}

// TestOperatorMode_RefusesACertificateForAnotherNode: a node does not
// start with an operator certificate that names another node, whether
// the node id comes from the config or from the data directory.
func TestOperatorMode_RefusesACertificateForAnotherNode(t *testing.T) {
	ca, err := pki.NewCA("test operator", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cfg := node.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.ClientAddr, cfg.InternalAddr, cfg.GossipAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.Partitions = 2
	cfg.Logger = slog.New(slog.DiscardHandler)
	cfg.NodeID = "n1"
	cfg.InternalIdentity = operatorIdentity(t, ca, "n2")
	if _, err := node.New(cfg); !errors.Is(err, node.ErrCertNodeID) {
		t.Fatalf("certificate for n2 on node n1: %v", err)
	}
	// The data directory remembers n1; a certificate for n2 without a
	// configured id is refused too.
	cfg.InternalIdentity = operatorIdentity(t, ca, "n1")
	n, err := node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n.Kill()
	cfg.NodeID = ""
	cfg.InternalIdentity = operatorIdentity(t, ca, "n2")
	if n, err := node.New(cfg); !errors.Is(err, node.ErrNodeIDMismatch) {
		if n != nil {
			n.Kill()
		}
		t.Fatalf("certificate for n2 on the data of n1: %v", err)
	}
}
