package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/roamhq/roam/wire"
)

// Group requests (PROTOCOL.md §16). Group names follow the user-name
// rules in a namespace of their own; they are sent lowercased. Refusals
// are *Error values: ErrRefused (no such group, or the caller may not),
// ErrNameTaken, ErrGroupFull, ErrBadName, ErrBadRequest, ErrRateLimited
// (with RetryAfter). Every request is retried, like Send, when its
// outcome is unknown (no reply, a lost connection, unavailable or
// internal), up to MaxSendAttempts attempts (then ErrBusy).

// Roles of a group member, as GroupInfo.Role and GroupMember.Role report
// them and GroupRole sets them.
const (
	RoleOwner   = "owner"
	RoleAdmin   = "admin"
	RoleMember  = "member"
	RoleInvited = "invited" // GroupInfo only: an invite not taken up yet
)

// Kinds of group stream entries (GroupMessage.Kind); a message has "".
const (
	GroupCreated = "created" // From created the group (Role: owner)
	GroupInvited = "invited" // From invited Subject
	GroupJoined  = "joined"  // From joined (Role: member)
	GroupLeft    = "left"    // From left
	GroupKicked  = "kicked"  // From removed Subject
	GroupRoleSet = "role"    // From gave Subject the role Role
	GroupInfoSet = "info"    // From changed the title, topic or openness
	GroupDeleted = "deleted" // From deleted the group: the stream ends
)

// GroupSettings are a group's settings for GroupCreate and GroupSet; nil
// fields are the defaults (create) or stay as they are (set).
type GroupSettings struct {
	Title *string // at most 64 bytes
	Topic *string // at most 512 bytes
	Open  *bool   // anyone may join without an invite
}

// GroupInfo is one of the caller's groups or invites (GroupList).
type GroupInfo struct {
	Group   string
	Role    string // owner, admin, member, or invited (then only Group is set)
	Title   string
	Topic   string
	Open    bool
	Owner   string
	Members int
	Head    uint64 // the stream's last seq
	Cursor  uint64 // this device's cursor in the group
	Since   uint64 // the seq of the caller's join: the first entry it sees
	Unread  uint64 // entries above the cursor the caller may read
}

// GroupMember is one member of a group and its role.
type GroupMember struct {
	User string
	Role string
}

// GroupMessage is one entry of a group's stream: a message (Kind "") or a
// membership or settings event.
type GroupMessage struct {
	Group      string
	Seq        uint64 // position in the group's stream: increases by one per entry
	ID         uint64 // cluster-unique id
	Kind       string // "" for a message, else GroupCreated, GroupJoined, ...
	From       string // the sender, or who made the change
	FromDevice string // the sending device (messages only)
	Subject    string // the user an event concerns (invited, kicked, role)
	Role       string // the role an event gives (created, joined, role)
	Body       []byte // messages only
	Sent       time.Time
	Expires    time.Time
	// Own marks a message this device sent (From and FromDevice are this
	// client's user and device): the server delivers it to the sender's
	// devices too. Show it as sent, or skip it; it counts as delivered
	// either way.
	Own bool
}

// GroupCreate creates a group with the caller as its owner (ErrNameTaken
// if the name is taken, ErrBadName if it breaks the naming rules,
// ErrGroupFull if the caller has as many groups as it may). The client
// then reads the group's stream and receives its entries (unless
// Config.SkipInbox or SkipGroups is set).
func (c *Client) GroupCreate(ctx context.Context, group string, s GroupSettings) error {
	group = canonicalUser(group)
	err := c.groupCall(ctx, wire.TGroupCreate, &wire.GroupSettings{Group: group, Title: s.Title, Topic: s.Topic, Open: s.Open}, wire.TOK, nil)
	if err == nil {
		c.groupJoined(group)
	}
	return err
}

// GroupSet changes a group's settings (owner and admins).
func (c *Client) GroupSet(ctx context.Context, group string, s GroupSettings) error {
	return c.groupCall(ctx, wire.TGroupSet, &wire.GroupSettings{Group: canonicalUser(group), Title: s.Title, Topic: s.Topic, Open: s.Open}, wire.TOK, nil)
}

// GroupInvite invites user into a group. Inviting a member or someone
// invited already succeeds and changes nothing; the server does not say
// whether user exists.
func (c *Client) GroupInvite(ctx context.Context, group, user string) error {
	return c.groupCall(ctx, wire.TGroupInvite, &wire.GroupPeer{Group: canonicalUser(group), User: canonicalUser(user)}, wire.TOK, nil)
}

// GroupJoin joins an open group, or one the caller is invited to. The
// client then reads the group's stream from the caller's joined entry on
// and receives its entries.
func (c *Client) GroupJoin(ctx context.Context, group string) error {
	group = canonicalUser(group)
	err := c.groupCall(ctx, wire.TGroupJoin, &wire.GroupName{Group: group}, wire.TOK, nil)
	if err == nil {
		c.groupJoined(group)
	}
	return err
}

// GroupLeave leaves a group, or declines an invite. An owner who leaves
// hands the group over; the last member to leave deletes it. The stream
// ends with the caller's own left entry. A leave retried after a lost
// reply succeeds although the server answers the retry with refused (the
// first attempt took the caller out).
func (c *Client) GroupLeave(ctx context.Context, group string) error {
	return c.groupCall(ctx, wire.TGroupLeave, &wire.GroupName{Group: canonicalUser(group)}, wire.TOK, nil)
}

// GroupKick removes a member, or withdraws an invite (owner and admins).
//
// A kick of someone who is not in the group (any more) succeeds and
// changes nothing, so a kick retried after a lost reply gets the first
// answer.
func (c *Client) GroupKick(ctx context.Context, group, user string) error {
	return c.groupCall(ctx, wire.TGroupKick, &wire.GroupPeer{Group: canonicalUser(group), User: canonicalUser(user)}, wire.TOK, nil)
}

// GroupRole gives a member a role: RoleAdmin, RoleMember, or RoleOwner
// (hand the group over; the caller becomes an admin). Owner only.
func (c *Client) GroupRole(ctx context.Context, group, user, role string) error {
	return c.groupCall(ctx, wire.TGroupRole, &wire.GroupRole{Group: canonicalUser(group), User: canonicalUser(user), Role: role}, wire.TOK, nil)
}

// GroupDelete deletes a group (owner only). Its members get a deleted
// entry and their streams end; the name is free again.
//
// Deleting a group that no longer exists succeeds, so a delete retried
// after a lost reply gets the first answer.
func (c *Client) GroupDelete(ctx context.Context, group string) error {
	return c.groupCall(ctx, wire.TGroupDelete, &wire.GroupName{Group: canonicalUser(group)}, wire.TOK, nil)
}

// GroupListPage returns one page of the caller's groups and invites in
// name order, after the group named after ("" for the first page); more
// says that another page may follow (ask with after = the last name).
func (c *Client) GroupListPage(ctx context.Context, after string) (groups []GroupInfo, more bool, err error) {
	var r wire.GroupListReply
	if err := c.groupCall(ctx, wire.TGroupList, &wire.GroupList{After: after}, wire.TGroupListReply, &r); err != nil {
		return nil, false, err
	}
	out := make([]GroupInfo, 0, len(r.Groups))
	for _, e := range r.Groups {
		out = append(out, toGroupInfo(&e))
	}
	if r.More && len(out) == 0 {
		return nil, false, fmt.Errorf("%w: group_list_reply with more and no group", ErrProtocol)
	}
	return out, r.More, nil
}

// GroupList returns all the caller's groups and invites in name order,
// reading every page. A group just joined or left can take a moment to
// appear in or vanish from the list.
func (c *Client) GroupList(ctx context.Context) ([]GroupInfo, error) {
	var all []GroupInfo
	after := ""
	for {
		page, more, err := c.GroupListPage(ctx, after)
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		if !more {
			return all, nil
		}
		after = page[len(page)-1].Group
	}
}

// GroupMembersPage returns one page of a group's members in name order,
// after the user named after; more says that another page may follow.
// Members only (ErrRefused otherwise).
func (c *Client) GroupMembersPage(ctx context.Context, group, after string) (members []GroupMember, more bool, err error) {
	var r wire.GroupMembersReply
	if err := c.groupCall(ctx, wire.TGroupMembers, &wire.GroupMembers{Group: canonicalUser(group), After: after}, wire.TGroupMembersReply, &r); err != nil {
		return nil, false, err
	}
	out := make([]GroupMember, 0, len(r.Members))
	for _, m := range r.Members {
		out = append(out, GroupMember{User: m.User, Role: m.Role})
	}
	if r.More && len(out) == 0 {
		return nil, false, fmt.Errorf("%w: group_members_reply with more and no member", ErrProtocol)
	}
	return out, r.More, nil
}

// GroupMembers returns all the members of a group, reading every page.
func (c *Client) GroupMembers(ctx context.Context, group string) ([]GroupMember, error) {
	var all []GroupMember
	after := ""
	for {
		page, more, err := c.GroupMembersPage(ctx, group, after)
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		if !more {
			return all, nil
		}
		after = page[len(page)-1].User
	}
}

// GroupSend sends body to a group and returns once the message is
// durable; Ack.Seq is its position in the group's stream. It retries as
// Send does, with the same cmid (NextCMID, or WithCMID) on every attempt,
// so a retry is acknowledged as a duplicate (Ack.Dup) and never stored or
// delivered twice; every error is a *SendError with the cmid and the time
// of the first attempt. ErrRefused: the caller is not a member (checked
// before duplicates: a retry after the caller left is refused).
func (c *Client) GroupSend(ctx context.Context, group string, body []byte, opts ...SendOption) (Ack, error) {
	args := c.sendArgs(wire.Send{Body: body}, opts)
	req := &wire.GroupSend{Group: canonicalUser(group), CMID: args.req.CMID, Body: body, TTLMS: args.req.TTLMS}
	return c.sendLoop(ctx, &args, wire.TGroupSend, req)
}

// groupCall sends a group request, retrying it while its outcome is
// unknown: every group request may be repeated safely (PROTOCOL.md
// §16.1). A leave whose retry is refused after an attempt with an
// unknown outcome succeeded: refused is then the answer to a caller the
// first attempt took out of the group.
func (c *Client) groupCall(ctx context.Context, t wire.Type, body any, want wire.Type, out any) error {
	var last error
	for attempt := 1; ; attempt++ {
		err := c.call(ctx, t, body, want, out)
		if err == nil {
			return nil
		}
		if last != nil && t == wire.TGroupLeave && errors.Is(err, ErrRefused) {
			return nil
		}
		if last != nil && t == wire.TScheduleCancel && errors.Is(err, ErrSchedNotFound) {
			return nil // an earlier attempt cancelled it
		}
		if ctx.Err() != nil || errors.Is(err, ErrClosed) || !retryable(err) {
			return err
		}
		last = err
		if attempt >= c.cfg.MaxSendAttempts {
			return fmt.Errorf("%w: %w", ErrBusy, last)
		}
		c.log.Debug("group request failed; retrying", "type", t, "attempt", attempt, "err", err)
		if err := c.sleep(ctx, c.backoff(attempt-1)); err != nil {
			return err
		}
	}
}

func toGroupInfo(e *wire.GroupEntry) GroupInfo {
	return GroupInfo{
		Group: e.Group, Role: e.Role, Title: e.Title, Topic: e.Topic, Open: e.Open, Owner: e.Owner,
		Members: int(e.Members), Head: e.Head, Cursor: e.Cursor, Since: e.Since, Unread: e.Unread,
	}
}

func toGroupMessage(m *wire.GroupMessage, user, device string) GroupMessage {
	gm := GroupMessage{
		Group: m.Group, Seq: m.Seq, ID: m.ID, Kind: m.Kind, From: m.From, FromDevice: m.FromDevice,
		Subject: m.Subject, Role: m.Role, Body: m.Body, Sent: time.UnixMilli(m.SentMS),
	}
	if m.ExpiresMS != 0 {
		gm.Expires = time.UnixMilli(m.ExpiresMS)
	}
	gm.Own = m.Kind == "" && m.From == user && m.FromDevice == device
	return gm
}
