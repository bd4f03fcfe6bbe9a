package sim

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"time"
)

// The clientreset fault kills the TCP connections of the nodes' client
// ports from outside, as a flapping network would: the simulator asks
// the kernel to destroy the sockets (ss -K, which needs root and a kernel
// with SOCK_DESTROY; the kernel sends a reset to the other end). Every
// client of the node loses its connection without its client object
// being closed, so the client library resumes the session, and resumes
// in flight are cut too: a resume whose token rotation committed but
// whose reply was lost is retried with the old token. A cluster that
// answers such a retry with session_invalid logs the user out, which
// CheckSessionEnds reports. Proxies cannot do this: after a loss the
// client reconnects to the addresses the nodes announce, not to the
// proxies'.

// killClientConns destroys every established TCP connection whose local
// port is one of the client addresses' ports, and returns how many.
func killClientConns(addrs []string) (int, error) {
	var f []string
	for _, a := range addrs {
		_, port, err := net.SplitHostPort(a)
		if err != nil {
			return 0, err
		}
		f = append(f, "sport = :"+port)
	}
	if len(f) == 0 {
		return 0, nil
	}
	out, err := exec.Command("ss", "-K", "-H", "-t", "-n", "state", "established", "( "+strings.Join(f, " or ")+" )").CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("ss -K: %v: %s", err, bytes.TrimSpace(out))
	}
	return bytes.Count(out, []byte("\n")), nil
}

// canKillConns checks that killClientConns works here, on a loopback
// connection of its own.
func canKillConns() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Read(make([]byte, 1))
			c.Close()
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return err
	}
	defer c.Close()
	time.Sleep(20 * time.Millisecond) // let the accept complete
	if _, err := killClientConns([]string{ln.Addr().String()}); err != nil {
		return err
	}
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil || strings.Contains(err.Error(), "timeout") {
		return fmt.Errorf("ss -K did not kill a loopback connection (read: %v)", err)
	}
	return nil
}

// clientReset runs a clientreset fault: every f.Every for f.Dur, kill the
// client connections of the target node (or of every node).
func (r *runner) clientReset(ctx context.Context, f PlannedFault) {
	r.cl.mu.Lock()
	nodes := append([]*Node(nil), r.cl.Nodes...)
	r.cl.mu.Unlock()
	var addrs, names []string
	for i, n := range nodes {
		if (f.Node == AllNodes || i == f.Node%len(nodes)) && n.State() == "up" {
			addrs = append(addrs, n.Client)
			names = append(names, n.Name)
		}
	}
	if len(addrs) == 0 {
		return
	}
	target := strings.Join(names, "+")
	if f.Node == AllNodes {
		target = "all"
	}
	r.fault(FaultClientReset, target, fmt.Sprintf("kill every client connection every %v for %v", f.Every, f.Dur))
	end := time.Now().Add(f.Dur)
	killed, rounds := 0, 0
	for ctx.Err() == nil && time.Now().Before(end) {
		n, err := killClientConns(addrs)
		if err != nil {
			r.fault("error", target, err.Error())
			return
		}
		killed += n
		rounds++
		select {
		case <-ctx.Done():
		case <-time.After(f.Every):
		}
	}
	r.fault("heal", target, fmt.Sprintf("client resets over: %d connections killed in %d rounds", killed, rounds))
}
