package main

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

var readyRE = regexp.MustCompile(`roamd: node (\S+) ready; clients connect to ([^;\s]+)(?:; other nodes join (\S+))?`)

type proc struct {
	cmd    *exec.Cmd
	client string
	gossip string
	debug  string
	log    *os.File
	dead   bool
}

type cluster struct {
	dir   string
	nodes []*proc
}

func freePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startCluster starts n roamd processes with the given JSON config (empty:
// defaults) and waits until each is ready.
func startCluster(bin, dir string, n int, configJSON string, debug bool) (*cluster, error) {
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var key [32]byte
	rand.Read(key[:])
	cl := &cluster{dir: dir}
	var conf []string
	if configJSON != "" {
		p := filepath.Join(dir, "config.json")
		if err := os.WriteFile(p, []byte(configJSON), 0o644); err != nil {
			return nil, err
		}
		conf = []string{"-config", p}
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
			args = append(args, "-debug-addr", p.debug)
		}
		if i > 1 {
			args = append(args, "-join", cl.nodes[0].gossip)
		}
		lf, err := os.Create(filepath.Join(dir, fmt.Sprintf("n%d.log", i)))
		if err != nil {
			return nil, err
		}
		p.log = lf
		p.cmd = exec.Command(bin, args...)
		p.cmd.Stderr = lf
		out, err := p.cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		if err := p.cmd.Start(); err != nil {
			return nil, err
		}
		cl.nodes = append(cl.nodes, p)
		ready := make(chan []string, 1)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				fmt.Fprintln(lf, sc.Text())
				if m := readyRE.FindStringSubmatch(sc.Text()); m != nil {
					select {
					case ready <- m:
					default:
					}
				}
			}
		}()
		select {
		case m := <-ready:
			p.client = m[2]
			p.gossip = m[3]
		case <-time.After(60 * time.Second):
			cl.stop()
			return nil, fmt.Errorf("roamd node%d not ready after 60s (see %s)", i, lf.Name())
		}
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
			a = append(a, p.cmd.Process.Pid)
		}
	}
	return a
}

func (c *cluster) kill9(i int) {
	p := c.nodes[i]
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.cmd.Wait()
	p.dead = true
}

func (c *cluster) stop() {
	for _, p := range c.nodes {
		if !p.dead {
			p.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	for _, p := range c.nodes {
		if p.dead {
			continue
		}
		done := make(chan struct{})
		go func() { p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			p.cmd.Process.Kill()
			<-done
		}
		p.dead = true
		p.log.Close()
	}
	os.RemoveAll(c.dir)
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
