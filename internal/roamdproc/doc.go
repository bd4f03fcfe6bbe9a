// Package roamdproc runs roamd processes and carries log lines, for the
// tests and tools that start nodes (e2e, sim, roambench, cmd/roamd's own
// tests) and the tests that send a component's logs to t.Log.
//
// It holds what used to be copied into each of them:
//
//   - the ready line: roamd prints Ready.String() on stdout once every
//     partition it opened has a leader, and ParseReady (one regexp) reads
//     it back: the node id, the client address and the address others join;
//   - Spawn and Start: run a roamd binary, copy every line it writes on
//     stdout and stderr to Config.Log, and wait (with a timeout) for the
//     ready line; Proc then signals, stops, kills and waits for it;
//   - LineWriter: an io.Writer that passes on whole lines, with a prefix
//     (and a time stamp if asked), to a function: t.Log for TestLog and
//     TestLogger, or anything else;
//   - Buffer: a strings.Builder safe for concurrent writers and readers.
//
// A test starts a node and logs through t (see also the runnable examples):
//
//	p, err := roamdproc.Start(ctx, roamdproc.Config{
//		Bin:  bin,
//		Args: []string{"-data", dir, "-client", "127.0.0.1:0", "-internal", "127.0.0.1:0", "-gossip", "127.0.0.1:0"},
//		Log:  roamdproc.TestLog(t, "n1: "),
//	})
//	if err != nil {
//		t.Fatal(err)
//	}
//	defer p.Kill()
//	c := client.Dial(p.Ready().Client, ...)
//	...
//	if err := p.Stop(ctx); err != nil { // SIGTERM, then the exit status
//		t.Fatal(err)
//	}
//
// # Goroutines
//
// Each Proc has three, all ending when the process has exited: one copies
// stdout (and watches for the ready line), one copies stderr, and one
// waits for both to reach the end of their pipe, then reaps the process
// and closes Exited. Lines from the two pipes reach Config.Log one Write
// each, never interleaved within a line.
//
// # Errors
//
//	ErrExited      the process exited before it printed its ready line
//	ErrNotReady    no ready line within Config.ReadyTimeout
//	ErrNotStopped  the process had not exited when the context of Wait or
//	               Stop ended; it was killed
package roamdproc
