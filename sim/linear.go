package sim

import (
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/anishathalye/porcupine"
)

// Account operation kinds.
const (
	OpRegister   = "register"    // Arg: password. Out: ok, taken
	OpLogin      = "login"       // Arg: password. Out: ok, denied
	OpChangePW   = "chpw"        // Arg: new password (on a session). Out: ok
	OpSetProfile = "set_profile" // Arg: display name (on a session). Out: ok
	OpGetProfile = "get_profile" // Out: the display name read (on a session)
)

// AccountOp is one account operation as a client saw it. Out is empty
// when the outcome is unknown (a write that may or may not have taken
// effect); reads and refusals without an answer are not recorded.
type AccountOp struct {
	Client     int    `json:"client"`
	User       string `json:"user"`
	Kind       string `json:"kind"`
	Arg        string `json:"arg,omitempty"`
	Out        string `json:"out,omitempty"`
	Start, End time.Duration
}

func (o AccountOp) String() string {
	out := o.Out
	if out == "" {
		out = "?"
	}
	return fmt.Sprintf("client %d %s %s(%q) -> %q [%v, %v]", o.Client, o.User, o.Kind, o.Arg, out, o.Start, o.End)
}

// account is the model's state of one account.
type account struct {
	Exists      bool
	PW, Profile string
}

// accountStep is the sequential specification of the account operations:
// the states an operation with this output can lead to from s (none: the
// output is impossible in s). An unknown outcome ("") may or may not have
// taken effect.
func accountStep(s account, op AccountOp) []account {
	switch op.Kind {
	case OpRegister:
		created := account{Exists: true, PW: op.Arg}
		switch op.Out {
		case "ok":
			if !s.Exists {
				return []account{created}
			}
		case "taken":
			if s.Exists {
				return []account{s}
			}
		case "":
			if !s.Exists {
				return []account{s, created}
			}
			return []account{s}
		}
	case OpLogin:
		match := s.Exists && s.PW == op.Arg
		if op.Out == "ok" && match || op.Out == "denied" && !match {
			return []account{s}
		}
	case OpChangePW, OpSetProfile:
		if !s.Exists {
			return nil // both need a session, so the account existed
		}
		next := s
		if op.Kind == OpChangePW {
			next.PW = op.Arg
		} else {
			next.Profile = op.Arg
		}
		switch op.Out {
		case "ok":
			return []account{next}
		case "":
			return []account{s, next}
		}
	case OpGetProfile:
		if s.Exists && s.Profile == op.Out {
			return []account{s}
		}
	}
	return nil
}

// accountModel is accountStep as a porcupine model, one partition per
// account.
func accountModel() porcupine.Model {
	m := porcupine.NondeterministicModel{
		Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
			by := map[string][]porcupine.Operation{}
			var users []string
			for _, o := range h {
				u := o.Input.(AccountOp).User
				if by[u] == nil {
					users = append(users, u)
				}
				by[u] = append(by[u], o)
			}
			sort.Strings(users)
			out := make([][]porcupine.Operation, 0, len(users))
			for _, u := range users {
				out = append(out, by[u])
			}
			return out
		},
		Init: func() []any { return []any{account{}} },
		Step: func(state, input, _ any) []any {
			var out []any
			for _, s := range accountStep(state.(account), input.(AccountOp)) {
				out = append(out, s)
			}
			return out
		},
		Equal: func(a, b any) bool { return a.(account) == b.(account) },
		DescribeOperation: func(input, _ any) string {
			return input.(AccountOp).String()
		},
		DescribeState: func(s any) string {
			a := s.(account)
			if !a.Exists {
				return "no account"
			}
			return fmt.Sprintf("password %q, display name %q", a.PW, a.Profile)
		},
	}
	return m.ToModel()
}

// AccountResult is what CheckAccounts found.
type AccountResult struct {
	Ops     int `json:"ops"`
	Unknown int `json:"unknown_outcome"`
	Users   int `json:"users"`
	// Linearizable is "ok", "illegal" (a violation) or "undecided" (the
	// checker ran out of time).
	Linearizable string `json:"linearizable"`
	info         porcupine.LinearizationInfo
}

// CheckAccounts checks the account operations for linearizability
// against accountStep, with porcupine. An operation with an unknown
// outcome is open until the end of time.
func CheckAccounts(ops []AccountOp, timeout time.Duration) AccountResult {
	res := AccountResult{Ops: len(ops)}
	users := map[string]bool{}
	h := make([]porcupine.Operation, 0, len(ops))
	for _, o := range ops {
		users[o.User] = true
		ret := int64(o.End)
		if o.Out == "" {
			res.Unknown++
			ret = math.MaxInt64
		}
		h = append(h, porcupine.Operation{ClientId: o.Client, Input: o, Call: int64(o.Start), Output: o.Out, Return: ret})
	}
	res.Users = len(users)
	r, info := porcupine.CheckOperationsVerbose(accountModel(), h, timeout)
	res.info = info
	switch r {
	case porcupine.Ok:
		res.Linearizable = "ok"
	case porcupine.Illegal:
		res.Linearizable = "illegal"
	default:
		res.Linearizable = "undecided"
	}
	return res
}

// Visualize writes porcupine's HTML view of the check (the longest
// linearizable prefixes and where they fail) to path.
func (r AccountResult) Visualize(path string) error {
	return porcupine.VisualizePath(accountModel(), r.info, path)
}
