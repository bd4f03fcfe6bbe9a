// Command roambench runs roam's benchmark suite (make bench): a baseline
// TCP relay and roam 1-node and 3-node clusters, driven by the same load
// generator in one run, and writes bench/results.json and BENCHMARKS.md.
package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/roamhq/roam/bench/disk"
	"github.com/roamhq/roam/bench/relay"
	"github.com/roamhq/roam/wire"
)

var (
	flagBin           = flag.String("roamd", "bin/roamd", "roamd binary")
	flagOut           = flag.String("out", "bench/results.json", "results file")
	flagMD            = flag.String("md", "BENCHMARKS.md", "Markdown report")
	flagGoBench       = flag.String("gobench", "", "output of the Go micro-benchmarks to include")
	flagPairs         = flag.Int("pairs", 128, "sender/receiver pairs (connections: 2 per pair)")
	flagSessions      = flag.Int("sessions", 10000, "idle logged-in sessions for the memory measurement")
	flagSessionsLarge = flag.Int("sessions-large", 50000, "a second, larger count of idle sessions for the memory measurement of roam, held by helper processes (0: skip)")
	flagPerHolder     = flag.Int("sessions-per-holder", 15000, "most idle sessions one helper process holds (each needs a descriptor)")
	flagSessionsOnly  = flag.Bool("sessions-only", false, "measure only logins and memory per idle session (no relay, rate steps, failover or idle CPU)")
	flagConc          = flag.Int("login-conc", 32, "concurrent logins")
	flagWarm          = flag.Duration("warm", time.Second, "warm-up of each rate step")
	flagStep          = flag.Duration("step", 4*time.Second, "measured duration of each rate step")
	flagRates         = flag.String("rates", "500,1000,2000,5000,10000,20000,30000,40000,60000,80000,100000,130000,160000", "offered rates, msgs/s")
	flagNodes         = flag.String("nodes", "1,3", "cluster sizes to measure")
	flagSkipIdle      = flag.Bool("skip-idle-cpu", false, "skip the idle CPU measurement")
	flagRelay         = flag.String("serve-relay", "", "internal: run the baseline relay on ADDR")
	flagHold          = flag.Bool("hold", false, "internal: log in and hold idle sessions as told on stdin")
	flagCommand       = flag.String("command", "make bench", "command recorded in the report")
	flagPlaintext     = flag.Bool("plaintext", false, "run the roam measurements other than the TLS-cost phase with plaintext on both ports (default: TLS on both, as users run it)")
	flagTLSCost       = flag.Bool("tls-cost", true, "run the TLS-cost phase: a cluster measured with TLS on both ports and with plaintext on both")
	flagOnlyTLSCost   = flag.Bool("only-tls-cost", false, "run only the TLS-cost phase; -md and -out then get only its section")
	flagTLSNodes      = flag.Int("tls-nodes", 3, "cluster size of the TLS-cost phase")
	flagTLSRates      = flag.String("tls-rates", "500,1000,1500,2000,2500,3000,4000,5000,6000,8000,10000,13000,16000,20000,25000,30000,40000,50000,60000", "offered rates of the TLS-cost phase, msgs/s (it stops at the first rate not sustained)")
	flagTLSLogins     = flag.Int("tls-logins", 5000, "logins measured in each configuration of the TLS-cost phase")
	flagTLSRounds     = flag.Int("tls-cost-rounds", 1, "times the TLS-cost phase measures both configurations (alternating which goes first)")
)

const partitions = 64 // roamd default

// benchConfig lifts every per-user and per-address limit the load
// generator would run into: one user sends far more than 1 message a
// second, 128 pairs and thousands of idle users log in from a few
// loopback addresses, and every user logs in, befriends and registers as
// fast as the nodes let it.
var benchConfig = `{"send_rate": 1000000, "send_burst": 1000000, "register_rate": 1000000, "register_burst": 1000000,
 "max_conns_per_ip": 1000000, "max_prelogin_per_ip": 1000000,
 "login_rate": 1000000, "login_burst": 1000000, "login_failures": 1000000,
 "resume_rate": 1000000, "resume_burst": 1000000, "resume_failures": 1000000,
 "friend_rate": 1000000, "friend_burst": 1000000, "block_rate": 1000000, "block_burst": 1000000,
 "profile_rate": 1000000, "profile_burst": 1000000}`

// benchSecurity is how the measurements other than the TLS-cost phase
// protect the ports: as users run roam, unless -plaintext.
func benchSecurity() security {
	if *flagPlaintext {
		return security{}
	}
	return product
}

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, time.Now().UTC().Format("15:04:05 ")+format+"\n", a...)
}

func main() {
	flag.Parse()
	lim := raiseFileLimit()
	if *flagHold {
		if err := runHolder(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "roambench -hold:", err)
			os.Exit(1)
		}
		return
	}
	if lim > 0 && uint64(*flagPerHolder+4096) > lim {
		*flagPerHolder = max(1000, int(lim)-4096)
		logf("roambench: open-file limit %d; at most %d idle sessions per helper process", lim, *flagPerHolder)
	}
	if *flagRelay != "" {
		ln, err := net.Listen("tcp", *flagRelay)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println("relay ready")
		relay.Serve(ln)
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "roambench:", err)
		os.Exit(1)
	}
}

func parseInts(s string) []int {
	var a []int
	for _, f := range strings.Split(s, ",") {
		var n int
		fmt.Sscan(strings.TrimSpace(f), &n)
		if n > 0 {
			a = append(a, n)
		}
	}
	return a
}

// Results is what bench/results.json holds.
type Results struct {
	Date        string             `json:"date"`
	Command     string             `json:"command"`
	NProc       int                `json:"nproc"`
	MemTotalMB  int64              `json:"mem_total_mb"`
	GoVersion   string             `json:"go_version"`
	Pairs       int                `json:"pairs"`
	FrameBytes  int                `json:"frame_bytes"`
	StepSeconds float64            `json:"step_seconds"`
	Relay       *Result            `json:"relay"`
	Roam        map[string]*Result `json:"roam"` // "1-node", "3-node"
	IdleCPUPct  float64            `json:"idle_cpu_3node_pct_of_core"`
	// Security is how the ports of the roam clusters above were
	// protected; TLSCost compares the two ends.
	Security string   `json:"security"`
	TLSCost  *TLSCost `json:"tls_cost,omitempty"`
	// Groups is the group phase (groups.go).
	Groups *GroupResult `json:"groups,omitempty"`
	// Scenes is the scene phase (scenes.go).
	Scenes *SceneResult `json:"scenes,omitempty"`
	// Fsync is the disk's fsync latency, probed for 20 s at the start in
	// the directory the nodes keep their data in.
	Fsync   *disk.FsyncStats `json:"fsync,omitempty"`
	Runtime string           `json:"runtime"`
	GoBench []string         `json:"go_bench,omitempty"`
}

type Result struct {
	Steps                []stepResult     `json:"steps"`
	MaxSustained         int              `json:"max_sustained_per_s"`
	LoginsPerS           float64          `json:"logins_per_s"`
	Sessions             int              `json:"sessions"`
	RSSPerSessionKB      float64          `json:"rss_per_idle_session_kb"`
	RSSBeforeMB          float64          `json:"rss_before_mb"`
	RSSAfterMB           float64          `json:"rss_after_mb"`
	SessionsLarge        int              `json:"sessions_large,omitempty"`
	RSSPerSessionLargeKB float64          `json:"rss_per_idle_session_large_kb,omitempty"`
	RSSAfterLargeMB      float64          `json:"rss_after_large_mb,omitempty"`
	SessionsLargeWanted  int              `json:"sessions_large_wanted,omitempty"`
	SessionsLargeCapped  bool             `json:"sessions_large_capped,omitempty"` // the open-file limits allowed no more
	SessionsLargeNote    string           `json:"sessions_large_note,omitempty"`   // why fewer than wanted were measured
	Errors               map[string]int64 `json:"errors,omitempty"`
	ProfileTop           string           `json:"profile_top,omitempty"`
	ProfileRate          int              `json:"profile_rate,omitempty"`
	Failover             *Failover        `json:"failover,omitempty"`
}

type Failover struct {
	Rate             int     `json:"rate"`
	KilledNode       string  `json:"killed_node"`
	SendsOKAfterS    float64 `json:"sends_ok_after_s"` // every pair whose sender stayed connected acks a send issued after the kill
	ClientsBackS     float64 `json:"clients_back_s"`   // every sender of the killed node logged in elsewhere and acked
	PairsRecovered   int     `json:"pairs_recovered"`
	Pairs            int     `json:"pairs"`
	ErrorsDuringKill int64   `json:"errors"`
}

func memTotalMB() int64 {
	b, _ := os.ReadFile("/proc/meminfo")
	var kb int64
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "MemTotal:") {
			fmt.Sscan(strings.Fields(l)[1], &kb)
		}
	}
	return kb / 1024
}

// frameBytes is the size of a roam Send frame as the load generator sends
// it; the relay frames are padded to the same size.
func frameBytes() int {
	b, _ := wire.AppendFrame(nil, wire.TSend, 1<<20, &wire.Send{To: "rcv100x10", CMID: 1 << 20, Body: make([]byte, payloadSize)})
	return len(b)
}

func run() error {
	t0 := time.Now()
	rates := parseInts(*flagRates)
	res := &Results{
		Date: time.Now().UTC().Format(time.RFC3339), Command: *flagCommand, NProc: runtime.NumCPU(),
		MemTotalMB: memTotalMB(), GoVersion: runtime.Version(), Pairs: *flagPairs, FrameBytes: frameBytes(),
		StepSeconds: flagStep.Seconds(), Roam: map[string]*Result{}, Security: benchSecurity().String(),
	}
	if *flagOnlyTLSCost {
		logf("roambench: the TLS-cost phase only: %d-node, %d pairs, rates %v", *flagTLSNodes, *flagPairs, parseInts(*flagTLSRates))
		tc, err := benchTLSCost(*flagTLSNodes, parseInts(*flagTLSRates))
		if err != nil {
			return fmt.Errorf("tls cost: %w", err)
		}
		res.TLSCost, res.Security = tc, ""
		res.Runtime = time.Since(t0).Round(time.Second).String()
		return writeResults(res, tlsCostMarkdown(res))
	}
	if *flagOnlyGroups {
		g, err := benchGroups(*flagGroupNodes, parseInts(*flagGroupRates))
		if err != nil {
			return fmt.Errorf("groups: %w", err)
		}
		res.Groups, res.Security = g, benchSecurity().String()
		res.Runtime = time.Since(t0).Round(time.Second).String()
		return writeResults(res, "# roam group benchmark\n\nCommand: `"+res.Command+"`, "+res.Date+", "+res.Security+".\n"+groupMarkdown(g))
	}
	if *flagOnlyScenes {
		sc, err := benchScenes(*flagSceneNodes, parseInts(*flagSceneSayRates))
		if err != nil {
			return fmt.Errorf("scenes: %w", err)
		}
		res.Scenes, res.Security = sc, benchSecurity().String()
		res.Runtime = time.Since(t0).Round(time.Second).String()
		return writeResults(res, "# roam scene benchmark\n\nCommand: `"+res.Command+"`, "+res.Date+", "+res.Security+".\n"+sceneMarkdown(sc))
	}
	logf("roambench: %d pairs, frame %d bytes, rates %v, %v per step", *flagPairs, res.FrameBytes, rates, *flagStep)
	var err error
	if !*flagSessionsOnly {
		logf("fsync latency of the data disk (20 s)")
		if st, err := disk.ProbeFsync("bench", 20*time.Second); err == nil {
			res.Fsync = &st
			logf("  %v", st)
		} else {
			logf("  fsync probe: %v", err)
		}
		if res.Relay, err = benchRelay(rates, res.FrameBytes); err != nil {
			return fmt.Errorf("relay: %w", err)
		}
	}
	for _, n := range parseInts(*flagNodes) {
		r, err := benchRoam(n, rates)
		if err != nil {
			return fmt.Errorf("roam %d-node: %w", n, err)
		}
		res.Roam[fmt.Sprintf("%d-node", n)] = r
	}
	if *flagTLSCost && !*flagSessionsOnly {
		if res.TLSCost, err = benchTLSCost(*flagTLSNodes, parseInts(*flagTLSRates)); err != nil {
			return fmt.Errorf("tls cost: %w", err)
		}
	}
	if *flagGroups && !*flagSessionsOnly {
		if res.Groups, err = benchGroups(*flagGroupNodes, parseInts(*flagGroupRates)); err != nil {
			return fmt.Errorf("groups: %w", err)
		}
	}
	if *flagScenes && !*flagSessionsOnly {
		if res.Scenes, err = benchScenes(*flagSceneNodes, parseInts(*flagSceneSayRates)); err != nil {
			return fmt.Errorf("scenes: %w", err)
		}
	}
	if !*flagSkipIdle && !*flagSessionsOnly {
		if res.IdleCPUPct, err = idleCPU(20*time.Second, 20*time.Second); err != nil {
			return fmt.Errorf("idle cpu: %w", err)
		}
	}
	if *flagGoBench != "" {
		res.GoBench = goBenchLines(*flagGoBench)
	}
	res.Runtime = time.Since(t0).Round(time.Second).String()
	return writeResults(res, markdown(res))
}

// writeResults writes the report md to -md and res to -out.
func writeResults(res *Results, md string) error {
	if err := os.WriteFile(*flagMD, []byte(md), 0o644); err != nil {
		return err
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(*flagOut, append(b, '\n'), 0o644); err != nil {
		return err
	}
	logf("wrote %s and %s in %s", *flagOut, *flagMD, res.Runtime)
	return nil
}

func benchRelay(rates []int, frame int) (*Result, error) {
	logf("relay baseline")
	addr := fmt.Sprintf("127.0.0.1:%d", freePort())
	self, _ := os.Executable()
	cmd := exec.Command(self, "-serve-relay", addr)
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer func() { cmd.Process.Signal(syscall.SIGKILL); cmd.Wait() }()
	if l, _ := bufio.NewReader(out).ReadString('\n'); !strings.Contains(l, "ready") {
		return nil, fmt.Errorf("relay did not start")
	}
	r := &Result{}
	h := newHarness(*flagPairs, *flagPairs)
	stop, err := startRelayLoad(h, addr, *flagPairs, frame)
	if err != nil {
		return nil, err
	}
	r.Steps, r.MaxSustained = h.stepUp(rates, 20000, *flagWarm, *flagStep, logf)
	stop()
	time.Sleep(500 * time.Millisecond)
	runtime.GC()
	// Idle connections: connect + one echoed frame each, then hold them.
	pid := cmd.Process.Pid
	before := rssKB(pid)
	n := *flagSessions
	conns := make([]net.Conn, n)
	next := make(chan int, n)
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	done := make(chan error, *flagConc)
	t := time.Now()
	for w := 0; w < *flagConc; w++ {
		go func() {
			var err error
			buf := make([]byte, frame)
			for i := range next {
				c, e := relayDial(addr, uint32(1000000+i))
				if e != nil {
					err = e
					continue
				}
				binary.BigEndian.PutUint32(buf, uint32(frame-4))
				binary.BigEndian.PutUint32(buf[4:], 0)
				c.Write(buf)
				io.ReadFull(c, buf)
				conns[i] = c
			}
			done <- err
		}()
	}
	for w := 0; w < *flagConc; w++ {
		if e := <-done; e != nil && err == nil {
			err = e
		}
	}
	r.LoginsPerS = float64(n) / time.Since(t).Seconds()
	time.Sleep(2 * time.Second)
	after := rssKB(pid)
	r.Sessions, r.RSSBeforeMB, r.RSSAfterMB = n, float64(before)/1024, float64(after)/1024
	r.RSSPerSessionKB = float64(after-before) / float64(n)
	logf("  relay: %.0f connects+RTT/s, %.2f KB RSS per idle connection (%d conns)", r.LoginsPerS, r.RSSPerSessionKB, n)
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
	return r, err
}

func benchRoam(n int, rates []int) (*Result, error) {
	logf("roam %d-node cluster", n)
	dir, _ := filepath.Abs(fmt.Sprintf("bench/.run-%dnode", n))
	cl, err := startCluster(*flagBin, dir, n, benchConfig, true, benchSecurity())
	if err != nil {
		return nil, err
	}
	defer cl.stop()
	logf("  %s", cl.sec)
	// Let the placement settle (replicas of every partition on the joiners).
	if n > 1 {
		time.Sleep(5 * time.Second)
	}
	r := &Result{}
	initKeysOnce(cl)
	// Every idle user is registered up front, as many as the nodes' open
	// files allow (next to the load pairs' connections).
	idle := max(*flagSessions, *flagSessionsLarge)
	if *flagSessionsLarge > *flagSessions {
		if idle, err = sessionsWithin(cl, *flagSessionsLarge, 2**flagPairs/n+1); err != nil {
			return nil, err
		}
		idle = max(idle, *flagSessions)
	}
	ts := time.Now()
	if err := cl.dial.registerAll(cl.clients(), idleNames(0, idle)); err != nil {
		return nil, err
	}
	logf("  registered %d users in %v", idle, time.Since(ts).Round(time.Millisecond))
	if *flagSessionsOnly {
		measureSessions(cl, r, idle)
		return r, nil
	}
	h := newHarness(*flagPairs, *flagPairs)
	h.cpu = func() int64 { return clusterTicks(cl) }
	l, err := setupPairs(h, cl, *flagPairs, partitions, logf)
	if err != nil {
		return nil, err
	}
	logf("  %d pairs logged in and befriended", *flagPairs)
	// Profile node1 during the 5k/s step (the durable-send path under
	// load), over the step's measured window.
	const profRate = 5000
	prof := filepath.Join("bench", fmt.Sprintf("profile-%dnode.pb.gz", n))
	profDone := make(chan error, 1)
	var profStarted atomic.Bool
	h.onMeasure = func(rate int, dur time.Duration) {
		if rate == profRate {
			profStarted.Store(true)
			go func() { profDone <- fetchProfile(cl.nodes[0].debug, prof, int(dur.Seconds())) }()
		}
	}
	r.Steps, r.MaxSustained = h.stepUp(rates, 20000, *flagWarm, *flagStep, logf)
	h.onMeasure = nil
	profTimeout := time.After(0)
	if profStarted.Load() {
		profTimeout = time.After(15 * time.Second)
	}
	select {
	case err := <-profDone:
		if err == nil {
			r.ProfileRate = profRate
			r.ProfileTop = pprofTop(prof)
			logf("  profile of node1 at %d/s:\n%s", profRate, r.ProfileTop)
		} else {
			logf("  profile: %v", err)
		}
	case <-profTimeout:
	}

	drain(h)
	measureSessions(cl, r, idle)

	if n > 1 {
		waitQuiet(cl, time.Minute)
		r.Failover = failover(l, cl, max(1000, r.MaxSustained/2))
	}
	r.Errors = h.errSummary()
	l.stop()
	return r, nil
}

// drain lets the backlog of an overloaded step drain (for up to 45 s):
// logins would queue behind it.
func drain(h *harness) {
	for end := time.Now().Add(45 * time.Second); time.Now().Before(end) && h.totDeliv.Load() < h.totalSent.Load(); {
		time.Sleep(100 * time.Millisecond)
	}
	if d := h.totalSent.Load() - h.totDeliv.Load(); d > 0 {
		logf("  %d messages still undelivered before the login measurement", d)
	}
}

var keysReady bool

// initKeysOnce derives the bench users' SCRAM keys for the nodes'
// iteration count (4096, which the hello of cl's first node confirms).
func initKeysOnce(cl *cluster) {
	if keysReady {
		return
	}
	iters := uint32(4096)
	if c, err := cl.dial.dialRoam(cl.clients()[0]); err == nil {
		c.Close()
	} else {
		logf("  hello: %v", err)
	}
	initKeys(iters)
	keysReady = true
}

func fetchProfile(debugAddr, path string, seconds int) error {
	resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", debugAddr, seconds))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("pprof: %s", resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, resp.Body)
	return err
}

func pprofTop(path string) string {
	out, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=25", *flagBin, path).Output()
	if err != nil {
		return "pprof failed: " + err.Error()
	}
	return string(out)
}

// failover kills -9 the node that is not node1 and measures recovery.
func failover(l *roamLoad, cl *cluster, rate int) *Failover {
	h := l.h
	victim := len(cl.nodes) - 1
	fo := &Failover{Rate: rate, KilledNode: fmt.Sprintf("node%d", victim+1), Pairs: len(l.senders)}
	logf("  failover: %d msgs/s, kill -9 %s", rate, fo.KilledNode)
	for _, s := range l.senders {
		s.onKilled = s.addrIdx%len(cl.nodes) == victim
	}
	h.step.Store(maxSteps - 1)
	h.rate.Store(int64(rate))
	time.Sleep(2 * time.Second)
	e0 := h.errs.Load()
	kill := h.now()
	h.killAt.Store(kill)
	cl.kill9(victim)
	const window = 15 * time.Second
	deadline := time.Now().Add(window)
	for time.Now().Before(deadline) {
		all := true
		for _, s := range l.senders {
			if s.firstOK.Load() == 0 {
				all = false
			}
		}
		if all {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	h.rate.Store(0)
	fo.ErrorsDuringKill = h.errs.Load() - e0
	var sendsOK, back float64
	for _, s := range l.senders {
		ok := s.firstOK.Load()
		if ok == 0 {
			if s.onKilled {
				back = window.Seconds()
			} else {
				sendsOK = window.Seconds()
			}
			continue
		}
		fo.PairsRecovered++
		d := float64(ok-kill) / 1e9
		if s.onKilled {
			back = max(back, d)
		} else {
			sendsOK = max(sendsOK, d)
		}
	}
	fo.SendsOKAfterS, fo.ClientsBackS = sendsOK, back
	logf("  failover: sends to every partition succeed again after %.2fs; clients of the killed node back after %.2fs; %d/%d pairs recovered; %d errors",
		sendsOK, back, fo.PairsRecovered, fo.Pairs, fo.ErrorsDuringKill)
	return fo
}

// idleCPU measures a fresh 3-node cluster with default settings (and the
// ports protected as the other measurements), the way scripts/idle-cpu.sh
// does.
func idleCPU(settle, window time.Duration) (float64, error) {
	logf("idle CPU of a 3-node cluster (default settings): settle %v, window %v", settle, window)
	dir, _ := filepath.Abs("bench/.run-idle")
	cl, err := startCluster(*flagBin, dir, 3, "", false, benchSecurity())
	if err != nil {
		return 0, err
	}
	defer cl.stop()
	time.Sleep(settle)
	a := clusterTicks(cl)
	time.Sleep(window)
	b := clusterTicks(cl)
	pct := 100 * float64(b-a) / 100 / window.Seconds() // CLK_TCK is 100 on Linux
	logf("  idle CPU: %.1f%% of one core", pct)
	return pct, nil
}

func goBenchLines(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var a []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "Benchmark") || strings.HasPrefix(l, "pkg:") {
			a = append(a, strings.Join(strings.Fields(l), " "))
		}
	}
	return a
}

// gcNodes makes every live node run a garbage collection.
func gcNodes(cl *cluster) {
	for _, p := range cl.nodes {
		if p.dead || p.debug == "" {
			continue
		}
		if resp, err := http.Get("http://" + p.debug + "/debug/pprof/heap?gc=1"); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
}
