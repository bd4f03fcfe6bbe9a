// Command roamsim is roam's churn simulator: it drives a roam cluster with
// a randomized messaging workload while injecting faults drawn from a
// seed, then checks the recorded history (lost, duplicated, unexpected,
// out-of-order messages, bounded delivery, bounded revocation, session
// ends, account linearizability, presence, the same for groups, and
// scheduled messages firing once). It exits with status 1 when
// an invariant is violated and 2 when the run itself failed.
//
//	roamsim -mode spawn -nodes 3 -duration 95s -seed 1 -json out.json -svg out.svg -html out.html
//	roamsim -mode target -addrs 127.0.0.1:7400,127.0.0.1:7410 -duration 60s
//
// On a terminal it draws a progress bar with an ETA; otherwise (a pipe, a
// file, CI) it prints one progress line a second (-progress chooses).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/roamhq/roam/sim"
)

func main() {
	cfg := sim.DefaultConfig()
	var addrs, faults, jsonOut, svgOut, htmlOut string
	var seed int64
	flag.StringVar(&cfg.Mode, "mode", cfg.Mode, "spawn (start roamd processes on loopback) or target (drive -addrs, no process faults)")
	flag.StringVar(&addrs, "addrs", "", "target mode: client addresses `HOST:PORT,...`")
	flag.IntVar(&cfg.Nodes, "nodes", cfg.Nodes, "spawn mode: initial node count")
	flag.StringVar(&cfg.Roamd, "roamd", "", "spawn mode: roamd binary (default: go build it into the temp dir)")
	flag.BoolVar(&cfg.KeepDir, "keep", false, "spawn mode: keep the temp dir with node data and logs (kept anyway on a violation)")
	flag.Int64Var(&seed, "seed", int64(cfg.Seed), "seed of the fault schedule and the workload decisions")
	flag.IntVar(&cfg.Users, "users", cfg.Users, "users")
	flag.IntVar(&cfg.Devices, "devices", cfg.Devices, "devices per user")
	flag.IntVar(&cfg.DevicesMax, "devices-max", cfg.DevicesMax, "devices of the users with many (see -many-devices); at most this many")
	flag.Float64Var(&cfg.ManyDevicesShare, "many-devices", cfg.ManyDevicesShare, "share of the users with more than -devices devices (up to -devices-max)")
	flag.IntVar(&cfg.Friends, "friends", cfg.Friends, "friends per user (about)")
	flag.Float64Var(&cfg.Rate, "rate", cfg.Rate, "total send rate per second")
	flag.IntVar(&cfg.MaxBody, "max-body", cfg.MaxBody, "largest message body in bytes (sizes are mixed up to it)")
	flag.Float64Var(&cfg.QuietShare, "quiet-users", cfg.QuietShare, "share of the users that receive rarely (so a lost one-way Deliver is not repaired by the next message)")
	flag.Float64Var(&cfg.QuietFactor, "quiet-factor", cfg.QuietFactor, "how often a quiet user is picked as a recipient, relative to the others")
	flag.Float64Var(&cfg.SendRate, "send-rate", cfg.SendRate, "spawn mode: the cluster's per-user send limit (roamd send_rate)")
	flag.DurationVar(&cfg.Duration, "duration", cfg.Duration, "length of the faulty run (before the quiet period)")
	flag.DurationVar(&cfg.Quiet, "quiet", cfg.Quiet, "how long the end may wait for devices to catch up")
	flag.Float64Var(&cfg.Churn, "churn", cfg.Churn, "device log-outs/drops per second (each comes back 1-7s later)")
	flag.StringVar(&faults, "faults", "kill,pause,leave,join,partition,disconnect,gatedrop,gatereset,clientreset", "fault kinds: kill, pause, leave, join, disconnect, partition (puts a TCP proxy in front of each node's internal port), gatedrop, gatereset (through each node's -fault-control endpoint), clientreset (kills client connections with ss -K; left out where that is not possible)")
	flag.DurationVar(&cfg.DisconnectEvery, "disconnect-every", cfg.DisconnectEvery, "mean spacing of client disconnect faults")
	flag.IntVar(&cfg.BacklogUsers, "backlog-users", cfg.BacklogUsers, "how many times a user goes offline on every device to build a backlog, then syncs on other nodes (0: never)")
	flag.IntVar(&cfg.Backlog, "backlog", cfg.Backlog, "messages a backlog waits for")
	flag.Float64Var(&cfg.BacklogShare, "backlog-share", cfg.BacklogShare, "share of all sends that go to the absent user while a backlog builds")
	flag.IntVar(&cfg.Ghosts, "ghosts", cfg.Ghosts, "devices of the cut-off side that log in on the other side during each partition (their old clients live on)")
	flag.DurationVar(&cfg.PasswordEvery, "password-every", cfg.PasswordEvery, "mean spacing of password changes, which revoke the user's other sessions (0: none)")
	flag.DurationVar(&cfg.DeleteEvery, "delete-every", cfg.DeleteEvery, "mean spacing of account deletions of throwaway accounts with a second device (0: none)")
	flag.DurationVar(&cfg.GhostLife, "ghost-life", cfg.GhostLife, "how long a revoked session's client keeps trying to send and to read")
	flag.IntVar(&cfg.Groups, "groups", cfg.Groups, "groups, created by an owner account of their own (0: no groups)")
	flag.IntVar(&cfg.GroupMembers, "group-members", cfg.GroupMembers, "users per group, about (the membership changes keep it near)")
	flag.Float64Var(&cfg.GroupShare, "group-share", cfg.GroupShare, "share of the sends that go to a group")
	flag.DurationVar(&cfg.MemberEvery, "member-every", cfg.MemberEvery, "mean spacing of membership changes (join, leave, kick) during the run (0: none)")
	flag.DurationVar(&cfg.SchedEvery, "sched-every", cfg.SchedEvery, "mean spacing of scheduled messages (some cancelled, edited or sent now during the run; 0: none)")
	flag.Float64Var(&cfg.SchedGroupShare, "sched-group-share", cfg.SchedGroupShare, "share of the scheduled messages that go to a group (from a member)")
	flag.DurationVar(&cfg.SchedMinAhead, "sched-min-ahead", cfg.SchedMinAhead, "the cluster's shortest time ahead of a scheduled message (spawn mode: roamd schedule_min_ahead; at least 1s; target mode: the cluster's, 10s by default); schedules are half a second more to -sched-max-ahead ahead")
	flag.DurationVar(&cfg.SchedMaxAhead, "sched-max-ahead", cfg.SchedMaxAhead, "the longest time ahead of a scheduled message")
	flag.DurationVar(&cfg.SchedSlack, "sched-slack", cfg.SchedSlack, "clock slack between the simulator and the nodes allowed before a fire counts as early")
	flag.DurationVar(&cfg.DeliveryBound, "delivery-bound", cfg.DeliveryBound, "bounded delivery: an online device has every message within this of its ack")
	flag.DurationVar(&cfg.RevocationBound, "revocation-bound", cfg.RevocationBound, "bounded revocation: a revoked session neither sends nor receives after this")
	flag.DurationVar(&cfg.PauseWaitLimit, "pause-wait-limit", 0, "fail the run if a send waited longer than this in a pause window (0: report only; the target is 4s)")
	flag.IntVar(&cfg.AccountUsers, "accounts", cfg.AccountUsers, "accounts of the account workload (register, login, password change, profile; checked with porcupine); 0: none")
	flag.IntVar(&cfg.AccountWorkers, "account-clients", cfg.AccountWorkers, "concurrent clients per account")
	flag.DurationVar(&cfg.AccountInterval, "account-interval", cfg.AccountInterval, "mean pause of each account client between operations")
	flag.StringVar(&jsonOut, "json", "", "write the report as JSON to `FILE`")
	flag.StringVar(&svgOut, "svg", "", "write a chart of throughput and latency with faults to `FILE`")
	flag.StringVar(&htmlOut, "html", "", "write the report for people to `FILE`: verdict, checks, figures, the chart, faults and their impact")
	barMode := flag.String("progress", "auto", "progress output: bar (redrawn on a terminal, with an ETA), lines (one a second) or auto (bar when stdout and stderr are terminals)")
	quietLog := flag.Bool("q", false, "no progress or fault lines")
	planOnly := flag.Bool("plan", false, "print the fault schedule the seed gives and exit")
	flag.Parse()
	cfg.Seed = uint64(seed)
	if addrs != "" {
		cfg.Addrs = strings.Split(addrs, ",")
	}
	var err error
	if cfg.Faults, err = sim.ParseKinds(faults); err != nil {
		fmt.Fprintln(os.Stderr, "roamsim:", err)
		os.Exit(2)
	}
	if cfg.Mode != "spawn" && cfg.Mode != "target" {
		fmt.Fprintln(os.Stderr, "roamsim: -mode is spawn or target")
		os.Exit(2)
	}
	if cfg.Users < 2 || cfg.Devices < 1 || cfg.Rate <= 0 || cfg.Nodes < 1 || cfg.AccountUsers < 0 || cfg.AccountWorkers < 0 || cfg.AccountInterval <= 0 {
		fmt.Fprintln(os.Stderr, "roamsim: want -users >= 2, -devices >= 1, -rate > 0, -nodes >= 1, -accounts >= 0, -account-clients >= 0, -account-interval > 0")
		os.Exit(2)
	}
	if cfg.MaxBody < 1 || cfg.SendRate <= 0 || cfg.DeliveryBound <= 0 || cfg.RevocationBound <= 0 || cfg.GhostLife <= 0 ||
		cfg.PasswordEvery < 0 || cfg.DeleteEvery < 0 || cfg.BacklogUsers < 0 || cfg.Backlog < 0 || cfg.Ghosts < 0 ||
		cfg.Groups < 0 || cfg.GroupMembers < 0 || cfg.GroupShare < 0 || cfg.GroupShare > 1 || cfg.MemberEvery < 0 ||
		cfg.SchedEvery < 0 || cfg.SchedEvery > 0 && cfg.SchedMinAhead < time.Second || cfg.SchedSlack < 0 || cfg.SchedGroupShare < 0 || cfg.SchedGroupShare > 1 {
		fmt.Fprintln(os.Stderr, "roamsim: want -max-body >= 1, -send-rate, -delivery-bound, -revocation-bound and -ghost-life > 0, -group-share and -sched-group-share in [0, 1], -sched-min-ahead >= 1s, and no negative counts or spacings")
		os.Exit(2)
	}
	if *planOnly {
		kinds := cfg.Faults
		if cfg.Mode == "target" {
			kinds = []string{sim.FaultDisconnect}
		}
		for _, f := range sim.PlanFaults(cfg.Seed, cfg.Duration, cfg.Nodes, kinds, cfg.DisconnectEvery, cfg.Users*cfg.Devices) { // (device indexes are taken modulo the real count)
			fmt.Println(f)
		}
		return
	}
	var pbar *bar
	if !*quietLog {
		switch useBar, ok := map[string]bool{"bar": true, "lines": false, "auto": isTerminal(os.Stdout) && isTerminal(os.Stderr)}[*barMode]; {
		case !ok:
			fmt.Fprintln(os.Stderr, "roamsim: -progress is bar, lines or auto")
			os.Exit(2)
		case useBar:
			pbar = newBar(os.Stderr, cfg.Duration, cfg.Quiet)
			cfg.OnTick, cfg.Log = pbar.tick, pbar
		default:
			cfg.Progress, cfg.Log = os.Stderr, os.Stderr
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := sim.Run(ctx, cfg)
	if pbar != nil {
		pbar.done()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "roamsim:", err)
		if rep != nil && rep.Dir != "" {
			fmt.Fprintln(os.Stderr, "roamsim: node logs in", rep.Dir)
		}
		os.Exit(2)
	}
	rep.WriteTable(os.Stdout)
	if jsonOut != "" {
		if err := rep.WriteJSON(jsonOut); err != nil {
			fmt.Fprintln(os.Stderr, "roamsim:", err)
		}
	}
	if svgOut != "" {
		if err := rep.WriteSVG(svgOut); err != nil {
			fmt.Fprintln(os.Stderr, "roamsim:", err)
		}
	}
	if htmlOut != "" {
		if err := rep.WriteHTML(htmlOut); err != nil {
			fmt.Fprintln(os.Stderr, "roamsim:", err)
		}
	}
	if !rep.OK() {
		os.Exit(1)
	}
}
