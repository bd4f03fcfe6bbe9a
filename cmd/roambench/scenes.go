package main

import (
	"flag"
	"fmt"
	"math"
	"math/rand"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/roamhq/roam/wire"
)

// The scene phase (PROTOCOL.md §19): many players in one scene, each
// moving a few times a second, with say and act traffic stepped up.

var (
	flagScenes        = flag.Bool("scenes", true, "run the scene phase: players of one scene moving, saying and acting")
	flagOnlyScenes    = flag.Bool("only-scenes", false, "run only the scene phase; -md and -out then get only its section")
	flagSceneNodes    = flag.Int("scene-nodes", 3, "cluster size of the scene phase")
	flagScenePlayers  = flag.Int("scene-players", 2000, "players in the scene, spread over the nodes")
	flagSceneMoveHz   = flag.Float64("scene-move-hz", 5, "moves a second of each player")
	flagSceneSide     = flag.Float64("scene-side", 1000, "side of the square the players walk in (2,000 in 1,000×1,000: about 16 within hearing, 63 within view)")
	flagSceneProfile  = flag.Bool("scene-profile", false, "log a 3 s CPU profile of every node during the moves-only step of the scene phase")
	flagSceneSayRates = flag.String("scene-say-rates", "20,50,100,200,400,800,1600,3200,6400", "offered says a second (and half as many actions); it stops at the first rate not sustained")
)

// sceneConfig lifts the scene limits as benchConfig lifts the others.
const sceneConfig = `, "scene_say_rate": 1000000, "scene_say_burst": 1000000, "scene_max_players": 100000}`

// SceneResult is the scene phase's outcome.
type SceneResult struct {
	Nodes   int     `json:"nodes"`
	Players int     `json:"players"`
	MoveHz  float64 `json:"move_hz_per_player"`
	Side    float64 `json:"side"`
	// Moves alone (no says): positions sent a second and the nodes' CPU
	// per position.
	MovesPerS       float64     `json:"position_updates_per_s"`
	CPUUsPerMove    float64     `json:"cpu_us_per_position_update"`
	NetCPUUsPerMove float64     `json:"cpu_us_per_position_update_above_still"` // less the still cluster's CPU
	IdleCPUPct      float64     `json:"still_cpu_pct_of_core"`                  // all players connected, none moving`
	ViewEventsPerS  float64     `json:"view_pushes_per_s"`
	Steps           []sceneStep `json:"steps"`
	DeliveriesPerS  float64     `json:"scene_deliveries_per_s"`     // the highest sustained step's
	SayP99MS        float64     `json:"say_to_delivery_p99_ms"`     // of that step
	SustainedSayPS  int         `json:"sustained_says_per_s"`       // its offered says
	MovesDuringSays float64     `json:"position_updates_per_s_say"` // moves a second during that step
}

type sceneStep struct {
	Says           int     `json:"offered_says_per_s"`
	Acts           int     `json:"offered_acts_per_s"`
	Sent           int64   `json:"sent"`
	OK             int64   `json:"ok"`
	Errors         int64   `json:"errors"`
	MovesPerS      float64 `json:"position_updates_per_s"`
	DeliveriesPerS float64 `json:"deliveries_per_s"`
	PerSay         float64 `json:"deliveries_per_say_or_act"`
	P50MS          float64 `json:"p50_ms"`
	P99MS          float64 `json:"p99_ms"`
	CPUUsPerDeliv  float64 `json:"cpu_us_per_delivery"`
	Sustained      bool    `json:"sustained"`
}

// scenePlayer is one player's connection; only its worker writes to it,
// only its reader reads.
type scenePlayer struct {
	c    *rconn
	x, y float64
}

// sceneCounters are what the readers count.
type sceneCounters struct {
	deliveries atomic.Int64
	views      atomic.Int64
	oks        atomic.Int64
	errs       atomic.Int64
	lat        latencies
}

func scenePlayerName(i int) string { return fmt.Sprintf("sp%05d", i) }

// benchScenes runs the scene phase on an n-node cluster.
func benchScenes(n int, sayRates []int) (*SceneResult, error) {
	P := *flagScenePlayers
	logf("scenes: %d-node cluster, %d players in one scene, %.0f moves/s each, a %.0f×%.0f square", n, P, *flagSceneMoveHz, *flagSceneSide, *flagSceneSide)
	dir, _ := filepath.Abs(fmt.Sprintf("bench/.run-scenes-%dnode", n))
	cfg := benchConfig[:len(benchConfig)-1] + sceneConfig
	cl, err := startCluster(*flagBin, dir, n, cfg, true, benchSecurity())
	if err != nil {
		return nil, err
	}
	defer cl.stop()
	if n > 1 {
		time.Sleep(5 * time.Second)
	}
	initKeysOnce(cl)
	names := make([]string, P)
	for i := range names {
		names[i] = scenePlayerName(i)
	}
	addrs := cl.clients()
	if err := cl.dial.registerAll(addrs, names); err != nil {
		return nil, err
	}
	side := *flagSceneSide
	r := rand.New(rand.NewSource(1))
	players := make([]*scenePlayer, P)
	for i := range players {
		players[i] = &scenePlayer{x: r.Float64() * side, y: r.Float64() * side}
	}
	var wg sync.WaitGroup
	var firstErr atomic.Value
	sem := make(chan struct{}, *flagConc)
	for i := 0; i < P; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer func() { <-sem; wg.Done() }()
			p := players[i]
			c, err := cl.dial.dialLogin(addrs[i%len(addrs)], names[i], "d", 30*time.Second)
			if err == nil {
				_, err = c.call(wire.TSceneJoin, &wire.SceneJoin{Scene: "bench", X: p.x, Y: p.y}, nil)
			}
			if err != nil {
				firstErr.CompareAndSwap(nil, fmt.Errorf("player %s: %w", names[i], err))
				if c != nil {
					c.Close()
				}
				return
			}
			p.c = c
		}(i)
	}
	wg.Wait()
	defer func() {
		for _, p := range players {
			if p.c != nil {
				p.c.Close()
			}
		}
	}()
	if e, _ := firstErr.Load().(error); e != nil {
		return nil, e
	}
	cnt := &sceneCounters{}
	for i, p := range players {
		go p.read(i, cnt)
	}
	logf("  %d players in the scene", P)
	res := &SceneResult{Nodes: n, Players: P, MoveHz: *flagSceneMoveHz, Side: side}

	// The cluster with every player connected and still: its CPU is
	// what a position update's cost is measured above.
	time.Sleep(2 * time.Second) // the joins' view events settle
	c0, i0 := clusterTicks(cl), time.Now()
	time.Sleep(*flagStep)
	idleUsPerS := float64(clusterTicks(cl)-c0) * 1e4 / time.Since(i0).Seconds()
	res.IdleCPUPct = idleUsPerS / 1e4
	// Moves alone.
	var profiles sync.WaitGroup
	if *flagSceneProfile {
		for i, p := range cl.nodes {
			profiles.Add(1)
			go func(i int, addr string) {
				defer profiles.Done()
				time.Sleep(*flagWarm)
				path := filepath.Join(dir, fmt.Sprintf("profile-node%d.pb.gz", i+1))
				if err := fetchProfile(addr, path, 3); err != nil {
					logf("  profile of node%d: %v", i+1, err)
					return
				}
				out, _ := exec.Command("go", "tool", "pprof", "-top", "-cum", "-nodecount=300", *flagBin, path).Output()
				var keep []string
				for _, l := range strings.Split(string(out), "\n") {
					if strings.Contains(l, "Total samples") || strings.Contains(l, "roamhq") && len(keep) < 30 {
						keep = append(keep, l)
					}
				}
				logf("  CPU profile of node%d during moves (cumulative, roam's own functions):\n%s", i+1, strings.Join(keep, "\n"))
			}(i, p.debug)
		}
	}
	st := runSceneStep(cl, players, cnt, 0, 0)
	profiles.Wait()
	res.MovesPerS = st.MovesPerS
	if st.MovesPerS > 0 {
		res.CPUUsPerMove = st.cpuUs / (st.MovesPerS * flagStep.Seconds())
		res.NetCPUUsPerMove = (st.cpuUs/flagStep.Seconds() - idleUsPerS) / st.MovesPerS
	}
	res.ViewEventsPerS = st.viewsPerS
	logf("  still: the nodes use %.1f %% of a core; moves only: %.0f position updates/s, %.1f µs CPU (all nodes) per update, %.1f µs above the still cluster's, %.0f view pushes/s",
		res.IdleCPUPct, res.MovesPerS, res.CPUUsPerMove, res.NetCPUUsPerMove, res.ViewEventsPerS)
	for _, says := range sayRates {
		st := runSceneStep(cl, players, cnt, says, says/2)
		res.Steps = append(res.Steps, st.sceneStep)
		logf("  %4d says/s + %d acts/s: %d sent, %d ok, %d errors, %.0f moves/s, %.0f deliveries/s (%.1f per say or act), p50 %.1f ms p99 %.1f ms, %.1f µs CPU/delivery",
			st.Says, st.Acts, st.Sent, st.OK, st.Errors, st.MovesPerS, st.DeliveriesPerS, st.PerSay, st.P50MS, st.P99MS, st.CPUUsPerDeliv)
		if !st.Sustained {
			break
		}
		res.DeliveriesPerS, res.SayP99MS, res.SustainedSayPS, res.MovesDuringSays = st.DeliveriesPerS, st.P99MS, st.Says, st.MovesPerS
	}
	return res, nil
}

// read counts what a player receives: scene events (one in 16 decoded for
// its latency: the text is the send time in µs), view pushes, replies.
func (p *scenePlayer) read(i int, cnt *sceneCounters) {
	n := 0
	for {
		f, err := p.c.rd.ReadFrame()
		if err != nil {
			return
		}
		switch f.Type {
		case wire.TSceneEvent:
			cnt.deliveries.Add(1)
			n++
			if (n+i)%16 != 0 {
				continue
			}
			var e wire.SceneEvent
			if wire.Decode(f.Body, &e) != nil {
				continue
			}
			t := e.Text
			if e.Kind == "act" {
				t = string(e.Data)
			}
			if us, err := strconv.ParseInt(t, 10, 64); err == nil {
				cnt.lat.add(float64(time.Now().UnixMicro()-us) / 1000)
			}
		case wire.TSceneView:
			cnt.views.Add(1)
		case wire.TOK:
			cnt.oks.Add(1)
		case wire.TError:
			cnt.errs.Add(1)
		}
	}
}

type sceneStepRun struct {
	sceneStep
	cpuUs     float64
	viewsPerS float64
}

// runSceneStep moves every player MoveHz times a second and offers says
// and acts a second for warm + step, and measures the step's window.
func runSceneStep(cl *cluster, players []*scenePlayer, cnt *sceneCounters, says, acts int) sceneStepRun {
	st := sceneStepRun{sceneStep: sceneStep{Says: says, Acts: acts}}
	const workers = 16
	var measuring atomic.Bool
	var moves, sent atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	side := *flagSceneSide
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			r := rand.New(rand.NewSource(int64(w) + 7))
			var mine []*scenePlayer
			for i := w; i < len(players); i += workers {
				mine = append(mine, players[i])
			}
			// Rates per second, accumulated over the time that passed
			// (a tick the scheduler delays is made up for by the next).
			const tick = 10 * time.Millisecond
			moveRate := *flagSceneMoveHz * float64(len(mine))
			sayRate, actRate := float64(says)/workers, float64(acts)/workers
			// Random phases, so that low rates spread over the workers
			// do not all fall just outside the window.
			moveAcc, sayAcc, actAcc := r.Float64(), r.Float64(), r.Float64()
			next := 0
			t := time.NewTicker(tick)
			defer t.Stop()
			dirty := map[*scenePlayer]bool{}
			last := time.Now()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
				}
				now0 := time.Now()
				dt := now0.Sub(last).Seconds()
				last = now0
				moveDue, sayDue, actDue := moveRate*dt, sayRate*dt, actRate*dt
				in := measuring.Load()
				for moveAcc += moveDue; moveAcc >= 1; moveAcc-- {
					p := mine[next%len(mine)]
					next++
					p.x = math.Max(0, math.Min(side, p.x+r.Float64()*4-2))
					p.y = math.Max(0, math.Min(side, p.y+r.Float64()*4-2))
					if _, err := p.c.write(wire.TSceneMove, &wire.SceneMove{X: p.x, Y: p.y}); err == nil {
						dirty[p] = true
						if in {
							moves.Add(1)
						}
					}
				}
				now := strconv.FormatInt(time.Now().UnixMicro(), 10)
				for sayAcc += sayDue; sayAcc >= 1; sayAcc-- {
					p := mine[r.Intn(len(mine))]
					if _, err := p.c.write(wire.TSceneSay, &wire.SceneSay{Text: now}); err == nil {
						dirty[p] = true
						if in {
							sent.Add(1)
						}
					}
				}
				for actAcc += actDue; actAcc >= 1; actAcc-- {
					p := mine[r.Intn(len(mine))]
					if _, err := p.c.write(wire.TSceneAct, &wire.SceneAct{Action: "wave", Data: []byte(now)}); err == nil {
						dirty[p] = true
						if in {
							sent.Add(1)
						}
					}
				}
				for p := range dirty {
					p.c.bw.Flush()
					delete(dirty, p)
				}
			}
		}(w)
	}
	time.Sleep(*flagWarm)
	cnt.lat.take()
	d0, v0, ok0, e0 := cnt.deliveries.Load(), cnt.views.Load(), cnt.oks.Load(), cnt.errs.Load()
	cpu0, t0 := clusterTicks(cl), time.Now()
	measuring.Store(true)
	time.Sleep(*flagStep)
	measuring.Store(false)
	cpu1, el := clusterTicks(cl), time.Since(t0)
	d1, v1, ok1, e1 := cnt.deliveries.Load(), cnt.views.Load(), cnt.oks.Load(), cnt.errs.Load()
	close(stop)
	wg.Wait()
	st.Sent = sent.Load()
	st.OK, st.Errors = ok1-ok0, e1-e0
	st.MovesPerS = float64(moves.Load()) / el.Seconds()
	st.DeliveriesPerS = float64(d1-d0) / el.Seconds()
	st.viewsPerS = float64(v1-v0) / el.Seconds()
	if st.Sent > 0 {
		st.PerSay = float64(d1-d0) / float64(st.Sent)
	}
	st.P50MS, st.P99MS = cnt.lat.take()
	st.cpuUs = float64(cpu1-cpu0) * 1e4 // ticks are 10 ms
	if d1 > d0 {
		st.CPUUsPerDeliv = st.cpuUs / float64(d1-d0)
	}
	offeredMoves := *flagSceneMoveHz * float64(len(players))
	st.Sustained = st.Errors == 0 && st.MovesPerS >= 0.95*offeredMoves && st.P99MS <= 100 &&
		float64(st.Sent) >= 0.95*float64(says+acts)*el.Seconds() && st.OK >= st.Sent*95/100
	time.Sleep(500 * time.Millisecond) // the step's last deliveries
	return st
}

// sceneMarkdown renders the scene phase for BENCHMARKS.md.
func sceneMarkdown(s *SceneResult) string {
	if s == nil {
		return ""
	}
	out := fmt.Sprintf("\n## Scenes\n\n%d players in one scene on %d nodes (spread evenly; the scene is hosted by one of them), each moving %.0f times a second by up to 2 units in a %.0f×%.0f square (hearing 50, view 100: about 16 players within hearing and 63 within view), then says and half as many actions stepped up. A delivery is one say or action pushed to one player; latency is the client's send → the push at a listener (1 in 16 sampled). Sustained: no errors, ≥ 95 %% of the offered moves and says sent, p99 ≤ 100 ms. Scene traffic is volatile: no Raft writes.\n\n",
		s.Players, s.Nodes, s.MoveHz, s.Side, s.Side)
	out += fmt.Sprintf("Moves alone: **%.0f position updates/s**, **%.1f µs CPU per position update** (all nodes together; %.1f µs above the %.1f %% of a core the cluster uses with every player connected and still), %.0f view pushes/s.\n\n",
		s.MovesPerS, s.CPUUsPerMove, s.NetCPUUsPerMove, s.IdleCPUPct, s.ViewEventsPerS)
	out += "| says/s | acts/s | sent | ok | errors | moves/s | deliveries/s | per say or act | p50 ms | p99 ms | CPU µs/delivery (all nodes) | sustained |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n"
	for _, st := range s.Steps {
		out += fmt.Sprintf("| %d | %d | %d | %d | %d | %.0f | %.0f | %.1f | %.1f | %.1f | %.1f | %v |\n", st.Says, st.Acts, st.Sent, st.OK, st.Errors,
			st.MovesPerS, st.DeliveriesPerS, st.PerSay, st.P50MS, st.P99MS, st.CPUUsPerDeliv, st.Sustained)
	}
	out += fmt.Sprintf("\nSustained: %d says/s with %d acts/s, **%.0f deliveries/s**, say→delivery p99 **%.1f ms**, %.0f position updates/s meanwhile.\n\n",
		s.SustainedSayPS, s.SustainedSayPS/2, s.DeliveriesPerS, s.SayP99MS, s.MovesDuringSays)
	return out
}
