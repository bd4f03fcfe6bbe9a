package vlr

import (
	"context"

	"github.com/roamhq/roam/hlr"
)

// Home reaches the home register: it executes a command or answers a query
// at the leader of the partition that is home to the command's user,
// wherever that leader is. The node implements it.
type Home interface {
	Exec(ctx context.Context, cmd hlr.Cmd) (hlr.Result, error)
	Query(ctx context.Context, q hlr.Query) (*hlr.Answer, error)
}
