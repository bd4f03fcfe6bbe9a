package client

import (
	"context"
	"time"

	"github.com/roamhq/roam/wire"
)

// Whoami describes the session.
type Whoami struct {
	User   string
	Device string
	Node   string // id of the node the client is connected to
	Auth   string // "scram" (password login) or "resume"
	Since  time.Time
	// The role the session picked (PickRole); empty when none.
	RoleNS string
	Role   string
}

// Whoami asks the server who the session belongs to.
func (c *Client) Whoami(ctx context.Context) (Whoami, error) {
	var r wire.WhoamiReply
	if err := c.call(ctx, wire.TWhoami, &wire.Empty{}, wire.TWhoamiReply, &r); err != nil {
		return Whoami{}, err
	}
	return Whoami{User: r.User, Device: r.Device, Node: r.Node, Auth: r.Auth, Since: time.UnixMilli(r.SinceMS), RoleNS: r.RoleNS, Role: r.Role}, nil
}

// Profile is a user's public profile.
type Profile struct {
	User        string
	DisplayName string
	About       string
	Created     time.Time
}

// Profile returns user's profile ("" for one's own). Only friends'
// profiles are shown; any other name gets ErrRefused.
func (c *Client) Profile(ctx context.Context, user string) (Profile, error) {
	var r wire.Profile
	if err := c.call(ctx, wire.TGetProfile, &wire.GetProfile{User: canonicalUser(user)}, wire.TProfile, &r); err != nil {
		return Profile{}, err
	}
	return Profile{User: r.User, DisplayName: r.DisplayName, About: r.About, Created: time.UnixMilli(r.CreatedMS)}, nil
}

// ProfileUpdate lists the profile fields to change; nil leaves a field as
// it is.
type ProfileUpdate struct {
	DisplayName *string // at most 64 bytes
	About       *string // at most 512 bytes
}

// SetProfile changes the caller's profile.
func (c *Client) SetProfile(ctx context.Context, u ProfileUpdate) error {
	return c.call(ctx, wire.TSetProfile, &wire.SetProfile{DisplayName: u.DisplayName, About: u.About}, wire.TOK, nil)
}

// Friend is a friend and the status the caller may see (online, away,
// busy or offline).
type Friend struct {
	User   string
	Status string
}

// Friends is the caller's friend graph.
type Friends struct {
	Friends  []Friend
	Incoming []string // requests waiting for the caller's answer
	Outgoing []string // the caller's requests not answered yet
	Blocked  []string
}

// Friends returns the friend list with each friend's status.
func (c *Client) Friends(ctx context.Context) (Friends, error) {
	var r wire.Friends
	if err := c.call(ctx, wire.TFriendList, &wire.Empty{}, wire.TFriends, &r); err != nil {
		return Friends{}, err
	}
	out := Friends{Incoming: r.Incoming, Outgoing: r.Outgoing, Blocked: r.Blocked}
	for _, f := range r.Friends {
		out.Friends = append(out.Friends, Friend{User: f.User, Status: f.Status})
	}
	return out, nil
}

func (c *Client) peerOp(ctx context.Context, t wire.Type, user string) error {
	return c.call(ctx, t, &wire.Peer{User: canonicalUser(user)}, wire.TOK, nil)
}

// FriendRequest asks user to be a friend. Any reason it cannot be sent
// (no such user, blocked, ...) is the same ErrRefused.
func (c *Client) FriendRequest(ctx context.Context, user string) error {
	return c.peerOp(ctx, wire.TFriendRequest, user)
}

// FriendAccept accepts user's request (ErrNoRequest if there is none).
func (c *Client) FriendAccept(ctx context.Context, user string) error {
	return c.peerOp(ctx, wire.TFriendAccept, user)
}

// FriendDecline declines user's request (ErrNoRequest if there is none).
func (c *Client) FriendDecline(ctx context.Context, user string) error {
	return c.peerOp(ctx, wire.TFriendDecline, user)
}

// FriendRemove ends a friendship.
func (c *Client) FriendRemove(ctx context.Context, user string) error {
	return c.peerOp(ctx, wire.TFriendRemove, user)
}

// Block blocks user: no requests or messages from them.
func (c *Client) Block(ctx context.Context, user string) error {
	return c.peerOp(ctx, wire.TBlock, user)
}

// Unblock lifts a block.
func (c *Client) Unblock(ctx context.Context, user string) error {
	return c.peerOp(ctx, wire.TUnblock, user)
}

// Presence statuses a client may set.
const (
	StatusOnline    = "online"
	StatusAway      = "away"
	StatusBusy      = "busy"
	StatusInvisible = "invisible" // look offline to others
	StatusOffline   = "offline"   // only ever seen, never set
)

// SetPresence sets the caller's status: online, away, busy or invisible.
func (c *Client) SetPresence(ctx context.Context, status string) error {
	return c.call(ctx, wire.TSetPresence, &wire.SetPresence{Status: status}, wire.TOK, nil)
}
