package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/roamhq/roam/internal/roamdproc"
	"github.com/roamhq/roam/node/pki"
)

type proc struct {
	rp     *roamdproc.Proc
	client string
	gossip string
	debug  string
	log    *os.File
	dead   bool
}

type cluster struct {
	dir   string
	nodes []*proc
	sec   security
	dial  *dialer // how the load generator reaches the client ports
}

// security is how a bench cluster's ports are protected.
type security struct {
	// clientTLS: TLS 1.3 on the client port (-client-cert), with a
	// certificate for 127.0.0.1 from a CA the bench makes for the run.
	clientTLS bool
	// internalTLS: mutual TLS 1.3 between the nodes, from the cluster
	// key (roamd's default); false is -insecure-internal-plaintext.
	internalTLS bool
}

// product is what users run: TLS on both ports.
var product = security{clientTLS: true, internalTLS: true}

func (s security) String() string {
	switch s {
	case product:
		return "TLS on both ports"
	case security{}:
		return "plaintext on both ports"
	case security{internalTLS: true}:
		return "plaintext client port, mutual TLS between nodes"
	}
	return "TLS client port, plaintext between nodes"
}

// clientCert makes a CA and a certificate for the client port in dir and
// returns the paths of the CA's certificate, the node certificate and its
// key.
func clientCert(dir string) (caFile, certFile, keyFile string, err error) {
	ca, err := pki.NewCA("roambench CA", 24*time.Hour)
	if err != nil {
		return "", "", "", err
	}
	cert, err := pki.IssueNode(ca, "bench", []string{"127.0.0.1"}, 24*time.Hour)
	if err != nil {
		return "", "", "", err
	}
	if caFile, _, err = pki.WriteCA(dir, ca, true); err != nil {
		return "", "", "", err
	}
	certFile, keyFile, err = pki.WriteNode(dir, cert, true)
	return caFile, certFile, keyFile, err
}

// freePort is a loopback port free a moment ago, below the ephemeral
// range (roamdproc.FreeAddrs): the load generator's thousands of
// connections cannot take it before the node binds it.
func freePort() int {
	addrs, err := roamdproc.FreeAddrs(1)
	if err != nil {
		panic(err)
	}
	_, port, _ := net.SplitHostPort(addrs[0])
	n, _ := strconv.Atoi(port)
	return n
}

// startCluster starts n roamd processes with the given JSON config (empty:
// defaults) and ports protected as sec says, and waits until each is
// ready.
func startCluster(bin, dir string, n int, configJSON string, debug bool, sec security) (*cluster, error) {
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var key [32]byte
	rand.Read(key[:])
	cl := &cluster{dir: dir, sec: sec}
	var conf []string
	if sec.clientTLS {
		caFile, certFile, keyFile, err := clientCert(filepath.Join(dir, "certs"))
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		if cl.dial, err = newTLSDialer(caFile); err != nil {
			return nil, err
		}
		conf = append(conf, "-client-cert", certFile, "-client-key", keyFile)
	}
	if !sec.internalTLS {
		conf = append(conf, "-insecure-internal-plaintext")
	}
	if configJSON != "" {
		p := filepath.Join(dir, "config.json")
		if err := os.WriteFile(p, []byte(configJSON), 0o644); err != nil {
			return nil, err
		}
		conf = append(conf, "-config", p)
	}
	for i := 1; i <= n; i++ {
		p := &proc{}
		args := []string{"-data", filepath.Join(dir, fmt.Sprintf("n%d", i)), "-node-id", fmt.Sprintf("node%d", i),
			"-client", "127.0.0.1:" + strconv.Itoa(freePort()), "-internal", "127.0.0.1:" + strconv.Itoa(freePort()),
			"-gossip", "127.0.0.1:" + strconv.Itoa(freePort()), "-cluster-key", base64.StdEncoding.EncodeToString(key[:]),
			"-log-level", "warn"}
		args = append(args, conf...)
		if debug {
			p.debug = "127.0.0.1:" + strconv.Itoa(freePort())
			args = append(args, "-http", p.debug, "-http-pprof")
		}
		if i > 1 {
			args = append(args, "-join", cl.nodes[0].gossip)
		}
		lf, err := os.Create(filepath.Join(dir, fmt.Sprintf("n%d.log", i)))
		if err != nil {
			cl.stop()
			return nil, err
		}
		p.log = lf
		cfg := roamdproc.DefaultConfig(bin, args...)
		cfg.Log = lf
		if p.rp, err = roamdproc.Start(context.Background(), cfg); err != nil {
			lf.Close()
			cl.stop()
			return nil, fmt.Errorf("roamd node%d: %w (see %s)", i, err, lf.Name())
		}
		r := p.rp.Ready()
		p.client, p.gossip = r.Client, r.Join
		cl.nodes = append(cl.nodes, p)
	}
	return cl, nil
}

func (c *cluster) clients() []string {
	var a []string
	for _, p := range c.nodes {
		if !p.dead {
			a = append(a, p.client)
		}
	}
	return a
}

func (c *cluster) pids() []int {
	var a []int
	for _, p := range c.nodes {
		if !p.dead {
			a = append(a, p.rp.PID())
		}
	}
	return a
}

func (c *cluster) kill9(i int) {
	p := c.nodes[i]
	p.rp.Kill()
	p.dead = true
}

// stop stops every node (SIGTERM to all, then up to 15 s each before
// SIGKILL) and removes the cluster's directory.
func (c *cluster) stop() {
	for _, p := range c.nodes {
		if !p.dead {
			p.rp.Signal(syscall.SIGTERM)
		}
	}
	for _, p := range c.nodes {
		if p.dead {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		p.rp.Wait(ctx) // kills it when ctx ends
		cancel()
		p.dead = true
		p.log.Close()
	}
	if os.Getenv("ROAMBENCH_KEEP") == "" { // ROAMBENCH_KEEP=1 keeps data and logs for a post-mortem

		os.RemoveAll(c.dir)
	}
}

// rssKB returns the resident set size of pid in KiB.
func rssKB(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			v, _ := strconv.ParseInt(f[1], 10, 64)
			return v
		}
	}
	return 0
}

// cpuTicks returns utime+stime of pid in clock ticks.
func cpuTicks(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	s = s[strings.LastIndexByte(s, ')')+2:]
	f := strings.Fields(s)
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return u + st
}
