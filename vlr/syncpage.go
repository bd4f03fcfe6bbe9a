package vlr

import (
	"strconv"

	"github.com/roamhq/roam/hlr"
	"github.com/roamhq/roam/wire"
)

// Frame limits toward the client.
//
// A client may announce in Hello (max_frame) the largest frame it accepts.
// The server keeps, per connection, the smaller of that and its own output
// limit (maxOutFrame), and bounds what it sends by it: a sync page is cut
// by size as well as by count. A client that announces nothing is assumed
// to accept what the server accepts (Config.MaxFrame). A client that
// announces less than minClientFrame is refused at the handshake: one
// message must always fit in one frame (a push, or a page of one).

const (
	// maxOutFrame is the largest frame the server sends, whatever the
	// client announced.
	maxOutFrame = 1 << 20
	// minAnnouncedFrame is the smallest max_frame a client may announce
	// (with the default max_body; see minClientFrame).
	minAnnouncedFrame = 4096
	// maxMessageExtra bounds what a message push or a page of one message
	// adds to the message's body in a frame: header, keys, integers, the
	// sender (32) and device (64) names, and the sync reply's own keys.
	maxMessageExtra = 1024
	// syncReplyOverhead bounds the bytes of a sync_reply frame besides its
	// messages: the frame header (9), the map with its keys "messages",
	// "next" and "more", the array header, next (uint64) and more.
	syncReplyOverhead = 64
)

// minClientFrame is the smallest max_frame a client may announce to a
// server with cfg: at least 4096, and enough for one message of MaxBody.
func minClientFrame(cfg *Config) int {
	return max(minAnnouncedFrame, cfg.MaxBody+maxMessageExtra)
}

// clientFrameLimit returns the largest frame to send on a connection whose
// Hello announced maxFrame (0: nothing announced), and false when the
// announced limit is too small to serve the client.
func clientFrameLimit(announced uint32, cfg *Config) (int, bool) {
	if announced == 0 {
		return min(cfg.MaxFrame, maxOutFrame), true
	}
	if int64(announced) < int64(minClientFrame(cfg)) {
		return 0, false
	}
	return int(min(int64(announced), maxOutFrame)), true
}

// syncBudget is the byte budget for the messages of one sync page on a
// connection whose frames are limited to outMax.
func syncBudget(outMax int) int {
	return max(outMax-syncReplyOverhead, 1)
}

// acceptFrameLimit records the frame limit a Hello announced, or refuses
// the handshake (bad_handshake) when it is too small; it reports whether
// the connection may go on.
func (c *conn) acceptFrameLimit(rid uint32, h *wire.Hello) bool {
	lim, ok := clientFrameLimit(h.MaxFrame, &c.srv.cfg)
	if !ok {
		c.fatal(rid, refusef(wire.CodeBadHandshake, "max_frame must be 0 (not announced) or at least "+strconv.Itoa(minClientFrame(&c.srv.cfg))))
		return false
	}
	c.outMax = lim
	return true
}

// pageFor turns an inbox page read after after into a sync reply that
// fits budget bytes of messages, and returns it with the next sequence
// number to read and whether more may follow. A leader bounds its pages
// by size already (Query.MaxBytes); this cut is what guarantees the
// client's limit whatever the leader did.
func pageFor(in *hlr.Inbox, after uint64, budget int) *wire.SyncReply {
	if after > in.Head {
		after = in.Head // a cursor from the future: start over at the head
	}
	next := after + 1
	if in.ExpiredThrough >= next {
		next = in.ExpiredThrough + 1
	}
	out := &wire.SyncReply{Messages: make([]wire.Message, 0, len(in.Messages)), More: in.More}
	used := 0
	for i := range in.Messages {
		m := &in.Messages[i]
		if m.Seq < next {
			continue
		}
		n := hlr.MessageSize(m)
		if len(out.Messages) > 0 && used+n > budget {
			out.More = true
			break
		}
		used += n
		out.Messages = append(out.Messages, toWireMessage(m))
		next = m.Seq + 1
	}
	out.Next = next
	return out
}
