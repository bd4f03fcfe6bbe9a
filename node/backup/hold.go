package backup

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/roamhq/roam/hlr"
	"github.com/roamhq/roam/node/mux"
)

// A backup holds outbox completions on every node while it takes the
// partitions, and a restore holds the whole outbox (and schedule fires)
// while it installs them (hlr/hold.go says why). A hold lasts holdFor and
// is renewed every holdFor/4 while the tool runs; the tool releases it at
// the end, and a tool that dies leaves it to expire.
const holdFor = 2 * time.Minute

// keepHeld holds kind on every node of the cluster (the known ones and
// those they name), renews it until release is called, and releases it
// then. Every node must answer the first round.
func (c *client) keepHeld(ctx context.Context, kind hlr.Hold) (release func(), err error) {
	if err := c.holdAll(ctx, kind, holdFor); err != nil {
		c.holdAll(context.Background(), hlr.HoldNone, 0) // undo what was held
		return nil, err
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(holdFor / 4)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if err := c.holdAll(ctx, kind, holdFor); err != nil {
					c.progress("warning: renewing the hold: %v", err)
				}
			}
		}
	}()
	return func() {
		close(stop)
		wg.Wait()
		rctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.holdAll(rctx, hlr.HoldNone, 0); err != nil {
			c.progress("warning: releasing the hold (it expires by itself within %v): %v", holdFor, err)
		}
	}, nil
}

// holdAll sends one hold to every node it knows, learning the members
// from each answer, until all have answered.
func (c *client) holdAll(ctx context.Context, kind hlr.Hold, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	done := map[string]bool{}
	for {
		var todo []string
		for _, a := range c.known {
			if !done[a] {
				todo = append(todo, a)
			}
		}
		if len(todo) == 0 {
			return nil
		}
		for _, a := range todo {
			rep, err := c.holdOne(ctx, a, kind, d)
			if err != nil {
				return fmt.Errorf("hold the outbox at %s: %w", a, err)
			}
			c.learnLocked(rep.Members...)
			done[a] = true
		}
	}
}

func (c *client) holdOne(ctx context.Context, addr string, kind hlr.Hold, d time.Duration) (Reply, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := mux.Dial(ctx, c.cfg.Security, addr, mux.KindHold, 0)
	if err != nil {
		return Reply{}, err
	}
	defer conn.Close()
	dl, _ := ctx.Deadline()
	conn.SetDeadline(dl)
	if err := Write(conn, HoldRequest{Hold: uint8(kind), ForMS: d.Milliseconds()}); err != nil {
		return Reply{}, err
	}
	var rep Reply
	if err := Read(conn, &rep); err != nil {
		return Reply{}, err
	}
	if rep.Err != "" {
		return rep, fmt.Errorf("%s", rep.Err)
	}
	return rep, nil
}
