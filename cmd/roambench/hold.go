package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/roamhq/roam/wire"
)

// One process can open no more sockets than its open-file limit allows, so
// the large idle-session measurement spreads the client side over holder
// processes: roambench re-executes itself with -hold, sends a holdSpec as
// one JSON line on the holder's stdin, and reads holdReport lines from its
// stdout. The holder logs its users in, reports Done, keeps the sessions
// alive with pings, and closes them and exits when its stdin closes.

// holdSpec tells a holder which sessions to open.
type holdSpec struct {
	Addr      string        `json:"addr"`  // the roamd client address to log in at
	First     int           `json:"first"` // users idleName(First) … idleName(First+Count-1)
	Count     int           `json:"count"`
	Conc      int           `json:"conc"` // concurrent logins
	Iters     uint32        `json:"iters"`
	Heartbeat time.Duration `json:"heartbeat"`         // ping interval
	CAFile    string        `json:"ca_file,omitempty"` // the client port speaks TLS with a certificate from this CA
}

// holdReport is one progress line of a holder.
type holdReport struct {
	Held   int     `json:"held"`
	Failed int     `json:"failed,omitempty"`
	Done   bool    `json:"done,omitempty"`
	Rate   float64 `json:"rate,omitempty"` // logins/s, when done
	Err    string  `json:"err,omitempty"`  // the first login error
}

func idleName(i int) string { return fmt.Sprintf("idle%d", i) }

func idleNames(first, count int) []string {
	a := make([]string, count)
	for i := range a {
		a[i] = idleName(first + i)
	}
	return a
}

// runHolder is the holder process (-hold).
func runHolder(in io.Reader, out io.Writer) error {
	br := bufio.NewReader(in)
	line, err := br.ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("read spec: %w", err)
	}
	var sp holdSpec
	if err := json.Unmarshal(line, &sp); err != nil {
		return fmt.Errorf("spec: %w", err)
	}
	initKeys(sp.Iters)
	var d *dialer
	if sp.CAFile != "" {
		if d, err = newTLSDialer(sp.CAFile); err != nil {
			return err
		}
	}
	enc := json.NewEncoder(out)
	var held atomic.Int64
	type result struct {
		conns []net.Conn
		rate  float64
		err   error
	}
	done := make(chan result, 1)
	go func() {
		conns, rate, err := loginMany(d, []string{sp.Addr}, idleNames(sp.First, sp.Count), max(1, sp.Conc), &held)
		done <- result{conns, rate, err}
	}()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var res result
wait:
	for {
		select {
		case res = <-done:
			break wait
		case <-t.C:
			if err := enc.Encode(holdReport{Held: int(held.Load())}); err != nil {
				return err
			}
		}
	}
	rep := holdReport{Held: int(held.Load()), Failed: sp.Count - int(held.Load()), Done: true, Rate: res.rate}
	if res.err != nil {
		rep.Err = res.err.Error()
	}
	if err := enc.Encode(rep); err != nil {
		return err
	}
	stop := keepAlive(res.conns, sp.Heartbeat)
	io.Copy(io.Discard, br) // until the parent closes stdin
	stop()
	closeAll(res.conns)
	return nil
}

// keepAlive pings every open connection now and then once per interval
// (the server logs out a session that sends nothing for three heartbeat
// intervals) until the returned function is called. The pongs are left
// unread.
func keepAlive(conns []net.Conn, every time.Duration) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		if every <= 0 {
			<-quit
			return
		}
		ping, _ := wire.AppendFrame(nil, wire.TPing, 1, &wire.Empty{})
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			for _, c := range conns {
				if c != nil {
					c.SetWriteDeadline(time.Now().Add(time.Second))
					c.Write(ping)
				}
			}
			select {
			case <-quit:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(quit); <-done }
}

func closeAll(conns []net.Conn) {
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
}

// holder is the parent's side of one holder process.
type holder struct {
	spec  holdSpec
	cmd   *exec.Cmd
	stdin io.WriteCloser
	held  atomic.Int64
	done  chan holdReport // the final report, or one with Err if the holder died
}

// startHolder starts a holder process for sp.
func startHolder(sp holdSpec) (*holder, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	h := &holder{spec: sp, cmd: exec.Command(self, "-hold"), done: make(chan holdReport, 1)}
	h.cmd.Stderr = os.Stderr
	if h.stdin, err = h.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := h.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := h.cmd.Start(); err != nil {
		return nil, err
	}
	b, _ := json.Marshal(sp)
	if _, err := h.stdin.Write(append(b, '\n')); err != nil {
		h.stop()
		return nil, fmt.Errorf("holder: send spec: %w", err)
	}
	go h.read(out)
	return h, nil
}

// read follows the holder's reports until its final one.
func (h *holder) read(out io.Reader) {
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		var rep holdReport
		if err := json.Unmarshal(sc.Bytes(), &rep); err != nil {
			continue
		}
		h.held.Store(int64(rep.Held))
		if rep.Done {
			h.done <- rep
			io.Copy(io.Discard, out)
			return
		}
	}
	h.done <- holdReport{Held: int(h.held.Load()), Done: true, Err: "holder exited before holding its sessions"}
}

// stop closes the holder's stdin (it closes its sessions and exits) and
// waits for it, killing it if it takes too long.
func (h *holder) stop() {
	h.stdin.Close()
	exited := make(chan struct{})
	go func() { h.cmd.Wait(); close(exited) }()
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		h.cmd.Process.Signal(syscall.SIGKILL)
		<-exited
	}
}

// holdAll starts one holder per spec and waits until each holds its
// sessions, logging the progress every few seconds. It returns the running
// holders (to stop), the sessions held and the login rate over all holders.
func holdAll(specs []holdSpec, every time.Duration) ([]*holder, int, float64, error) {
	var hs []*holder
	want := 0
	t0 := time.Now()
	for _, sp := range specs {
		h, err := startHolder(sp)
		if err != nil {
			stopHolders(hs)
			return nil, 0, 0, err
		}
		hs = append(hs, h)
		want += sp.Count
	}
	sum := func() int {
		n := 0
		for _, h := range hs {
			n += int(h.held.Load())
		}
		return n
	}
	t := time.NewTicker(every)
	defer t.Stop()
	var errs []error
	for i := 0; i < len(hs); {
		select {
		case rep := <-hs[i].done:
			hs[i].held.Store(int64(rep.Held))
			if rep.Err != "" {
				errs = append(errs, fmt.Errorf("holder %d (%s, %d sessions): %d failed: %s", i+1, hs[i].spec.Addr, hs[i].spec.Count, rep.Failed, rep.Err))
			}
			i++
		case <-t.C:
			n := sum()
			logf("  %d/%d more idle sessions held (%.0f logins/s)", n, want, float64(n)/time.Since(t0).Seconds())
		}
	}
	n := sum()
	return hs, n, float64(n) / time.Since(t0).Seconds(), errors.Join(errs...)
}

func stopHolders(hs []*holder) {
	for _, h := range hs {
		h.stdin.Close()
	}
	for _, h := range hs {
		h.stop()
	}
}
