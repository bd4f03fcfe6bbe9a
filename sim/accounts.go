package sim

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/roamhq/roam/client"
)

// accountUser is one account of the account workload and what the
// workers believe its password to be. The belief only steers which
// password a worker tries; the check uses nothing but the recorded
// operations.
type accountUser struct {
	name string
	mu   sync.Mutex
	pws  []string // passwords that may be current, newest last
}

func (a *accountUser) believe(pw string) {
	a.mu.Lock()
	a.pws = append(a.pws, pw)
	if len(a.pws) > 8 {
		a.pws = a.pws[len(a.pws)-8:]
	}
	a.mu.Unlock()
}

// guess is the newest password believed most of the time, an older one
// otherwise.
func (a *accountUser) guess(rng *rand.Rand) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.pws) == 0 {
		return "never-set"
	}
	if rng.IntN(5) == 0 {
		return a.pws[rng.IntN(len(a.pws))]
	}
	return a.pws[len(a.pws)-1]
}

// runAccounts is the account workload: AccountWorkers clients per account
// race to register it, then log in, change its password, and write and
// read its profile, each op on a fresh connection to a random node, until
// ctx ends. Every answered op is recorded for CheckAccounts.
func (r *runner) runAccounts(ctx context.Context, prefix string) {
	var wg sync.WaitGroup
	for a := 0; a < r.cfg.AccountUsers; a++ {
		au := &accountUser{name: fmt.Sprintf("%sacct%d", prefix, a)}
		for w := 0; w < r.cfg.AccountWorkers; w++ {
			id := a*r.cfg.AccountWorkers + w
			wg.Add(1)
			go func() {
				defer wg.Done()
				r.accountWorker(ctx, au, id)
			}()
		}
	}
	wg.Wait()
}

func (r *runner) accountWorker(ctx context.Context, au *accountUser, id int) {
	rng := rand.New(rand.NewPCG(r.cfg.Seed, 0xacc0+uint64(id)))
	for n := 0; ctx.Err() == nil; n++ {
		kind := OpRegister
		if n > 0 {
			kind = []string{OpRegister, OpLogin, OpLogin, OpChangePW, OpSetProfile, OpSetProfile, OpGetProfile, OpGetProfile}[rng.IntN(8)]
		}
		addrs := r.addrs()
		addr := addrs[rng.IntN(len(addrs))]
		pw := au.guess(rng)
		arg := fmt.Sprintf("w%d-%d", id, n) // a fresh password or display name
		r.accountOp(ctx, au, id, kind, addr, pw, arg)
		pause := r.cfg.AccountInterval/2 + time.Duration(rng.Int64N(int64(r.cfg.AccountInterval)+1))
		select {
		case <-ctx.Done():
		case <-time.After(pause):
		}
	}
}

// accountOp runs one op (after a login for the ones that need a session)
// and records what was answered.
func (r *runner) accountOp(ctx context.Context, au *accountUser, id int, kind, addr, pw, arg string) {
	octx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
	defer cancel()
	cl, err := client.Dial(octx, r.clientConfig(fmt.Sprintf("acct-w%d", id), addr))
	if err != nil {
		return
	}
	defer cl.Close()
	record := func(k, a, out string, start time.Duration) {
		o := AccountOp{Client: id, User: au.name, Kind: k, Arg: a, Out: out, Start: start, End: r.rec.now()}
		r.rec.mu.Lock()
		r.rec.accounts = append(r.rec.accounts, o)
		r.rec.mu.Unlock()
	}
	start := r.rec.now()
	if kind == OpRegister {
		err := cl.Register(octx, au.name, arg)
		switch {
		case err == nil:
			record(OpRegister, arg, "ok", start)
			au.believe(arg)
		case errors.Is(err, client.ErrNameTaken):
			record(OpRegister, arg, "taken", start)
		case refusedWithoutEffect(err):
		default:
			record(OpRegister, arg, "", start) // may have been created
			au.believe(arg)
		}
		return
	}
	err = cl.Login(octx, au.name, pw)
	switch {
	case err == nil:
		record(OpLogin, pw, "ok", start)
	case errors.Is(err, client.ErrAuthFailed) && !errors.Is(err, client.ErrServerProof):
		record(OpLogin, pw, "denied", start)
		return
	default:
		return // no answer: a read that tells nothing
	}
	if kind == OpLogin {
		return
	}
	start = r.rec.now()
	switch kind {
	case OpChangePW:
		err := cl.ChangePassword(octx, "", arg)
		switch {
		case err == nil:
			record(OpChangePW, arg, "ok", start)
			au.believe(arg)
		case refusedWithoutEffect(err):
		default:
			record(OpChangePW, arg, "", start)
			au.believe(arg)
		}
	case OpSetProfile:
		err := cl.SetProfile(octx, client.ProfileUpdate{DisplayName: &arg})
		switch {
		case err == nil:
			record(OpSetProfile, arg, "ok", start)
		case refusedWithoutEffect(err):
		default:
			record(OpSetProfile, arg, "", start)
		}
	case OpGetProfile:
		if p, err := cl.Profile(octx, ""); err == nil {
			record(OpGetProfile, "", p.DisplayName, start)
		}
	}
}

// refusedWithoutEffect says whether a write's error is a refusal the
// server gives before changing anything: a throttle, a malformed request,
// or a session the home register no longer accepts.
func refusedWithoutEffect(err error) bool {
	return errors.Is(err, client.ErrRateLimited) || errors.Is(err, client.ErrBadRequest) ||
		errors.Is(err, client.ErrSessionInvalid) || errors.Is(err, client.ErrNotLoggedIn) ||
		errors.Is(err, client.ErrBadName) || errors.Is(err, client.ErrReauth)
}
