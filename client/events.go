package client

import (
	"sync"
	"time"
)

// EventKind says what an Event reports.
type EventKind uint8

const (
	// EventMessage: Message holds an inbox message. Messages come in
	// sequence order, each once.
	EventMessage EventKind = iota + 1
	// EventSynced: the inbox has been read up to Cursor (every message
	// before this event has been delivered). It follows every complete
	// sync: after login, after a reconnect and after a gap.
	EventSynced
	// EventPresence: friend User's visible status is now Status (online,
	// away, busy or offline).
	EventPresence
	// EventFriend: Friend ("request", "accepted", "declined" or
	// "removed") happened with User.
	EventFriend
	// EventGoodbye: the server is closing the connection; Err is an
	// *Error with the reason and Addr the redirect, if any. The client
	// reconnects by itself unless the session ended (EventSessionEnded
	// follows then).
	EventGoodbye
	// EventDisconnected: the connection to Addr was lost (Err says why);
	// the client is reconnecting.
	EventDisconnected
	// EventReconnected: the client reconnected to Addr and resumed the
	// session; Token has changed.
	EventReconnected
	// EventSessionEnded: the session is over (Err says why: logged in
	// elsewhere, password changed, account deleted, token refused...).
	// Log in again to continue.
	EventSessionEnded
	// EventError: the server sent an error that belongs to no request.
	EventError
	// EventGroupMessage: GroupMessage holds an entry of group Group's
	// stream (a message or a membership event). Each group's entries come
	// in sequence order, each once; GroupMessage.Own marks the messages
	// this device sent.
	EventGroupMessage
	// EventGroupSynced: group Group has been read up to Cursor (every entry
	// before this event has been delivered) and its pushes flow.
	EventGroupSynced
	// EventGroupsSynced: the groups flow after a login, a reconnect or
	// SyncGroups is complete: every group of the device has been read to
	// its end (or found gone). It comes after EventSynced.
	EventGroupsSynced
	// EventGroupGone: the device is no longer in group Group (it left, was
	// kicked, or the group was deleted, possibly while it was offline): no
	// more of its entries come.
	EventGroupGone
	// EventSchedule: one of the caller's scheduled messages changed
	// (Schedule; ScheduleEvent is "created", "edited", "cancelled",
	// "fired" or "failed"), pushed from another device's request or from
	// the fire.
	EventSchedule
	// EventScene: SceneEvent holds a say or an action that reached this
	// player (scene.go). Volatile: not stored, not retried.
	EventScene
	// EventSceneView: SceneView says who entered and left this player's
	// view.
	EventSceneView
	// EventSceneJoined: after a reconnect the client joined its scene
	// again (SceneInfo, with the player's new id).
	EventSceneJoined
	// EventSceneRehosted: the scene's host changed (SceneInfo.Scene; the
	// player keeps its id). The view starts again: forget whom the player
	// sees; the new host sends an EventSceneView entering every player in
	// view, those seen before included. The client has sent its position
	// by itself.
	EventSceneRehosted
)

var kindNames = [...]string{"", "message", "synced", "presence", "friend", "goodbye", "disconnected", "reconnected", "session_ended", "error",
	"group_message", "group_synced", "groups_synced", "group_gone", "schedule",
	"scene", "scene_view", "scene_joined", "scene_rehosted"}

func (k EventKind) String() string {
	if int(k) < len(kindNames) && k > 0 {
		return kindNames[k]
	}
	return "event"
}

// Event is one thing that happened; Kind says which fields are set.
type Event struct {
	Kind          EventKind
	Message       Message      // EventMessage
	GroupMessage  GroupMessage // EventGroupMessage
	Group         string       // EventGroupMessage, EventGroupSynced, EventGroupGone
	Cursor        uint64       // EventSynced, EventGroupSynced
	User          string       // EventPresence, EventFriend
	Status        string       // EventPresence
	Friend        string       // EventFriend
	Addr          string       // EventGoodbye (redirect), EventDisconnected, EventReconnected
	Err           error        // EventGoodbye, EventDisconnected, EventSessionEnded, EventError
	Schedule      Scheduled    // EventSchedule
	ScheduleEvent string       // EventSchedule
	// At is when the client took the frame that produced the event from
	// the connection: the event may reach the application much later,
	// when it reads Events slowly or not at all for a while.
	At         time.Time
	SceneEvent SceneEvent // EventScene
	SceneView  SceneView  // EventSceneView
	SceneInfo  SceneInfo  // EventSceneJoined, EventSceneRehosted (Scene only)
}

// Message is one message of the user's inbox.
type Message struct {
	Seq        uint64 // position in the inbox: increases by one per message
	ID         uint64 // cluster-unique message id
	From       string
	FromDevice string
	Body       []byte
	Sent       time.Time
	Expires    time.Time
}

// maxQueuedOther bounds the events other than messages waiting for the
// application; beyond it they are dropped (messages, 1:1 and group, never
// are: they are what the acknowledgement cursors account for).
const maxQueuedOther = 4096

// eventQueue is the unbounded queue between the reader goroutines and the
// dispatcher: readers never block on a slow application.
type eventQueue struct {
	mu      sync.Mutex
	items   []queued
	head    int
	others  int
	msgs    int           // messages queued
	signal  chan struct{} // something was queued
	drained chan struct{} // the messages queued fell to maxQueuedSync/2
}

type queued struct {
	ev    Event
	inbox uint64 // inbox.id for messages and group entries
}

// streamed reports whether an event is an entry of a stream (the inbox or
// a group) that a cursor accounts for: never dropped, and counted for the
// pacing of syncs.
func streamed(k EventKind) bool { return k == EventMessage || k == EventGroupMessage }

func (q *eventQueue) push(it queued) bool {
	if it.ev.At.IsZero() {
		it.ev.At = time.Now()
	}
	q.mu.Lock()
	if !streamed(it.ev.Kind) {
		if q.others >= maxQueuedOther {
			q.mu.Unlock()
			return false
		}
		q.others++
	} else {
		q.msgs++
	}
	q.items = append(q.items, it)
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
	return true
}

func (q *eventQueue) pop() (queued, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.head == len(q.items) {
		return queued{}, false
	}
	it := q.items[q.head]
	q.items[q.head] = queued{}
	q.head++
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	} else if q.head > 1024 && q.head*2 > len(q.items) {
		n := copy(q.items, q.items[q.head:])
		q.items, q.head = q.items[:n], 0
	}
	if !streamed(it.ev.Kind) {
		q.others--
	} else {
		q.msgs--
		if q.msgs <= maxQueuedSync/2 {
			select {
			case q.drained <- struct{}{}:
			default:
			}
		}
	}
	return it, true
}

// messages returns how many messages and group entries are queued.
func (q *eventQueue) messages() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.msgs
}

// emit queues an event for the application.
func (c *Client) emit(ev Event) {
	if !c.queue.push(queued{ev: ev}) {
		c.log.Debug("event dropped: the application is not reading Events", "kind", ev.Kind)
	}
}

// dispatch is the dispatcher goroutine: it hands queued events to the
// application one by one, and records each message handed over for the
// acknowledgement cursor.
func (c *Client) dispatch() {
	for {
		it, ok := c.queue.pop()
		if !ok {
			select {
			case <-c.queue.signal:
				continue
			case <-c.done:
				return
			}
		}
		select {
		case c.events <- it.ev:
			switch it.ev.Kind {
			case EventMessage:
				c.handed(it.inbox, it.ev.Message.Seq)
			case EventGroupMessage:
				c.handedGroup(it.inbox, it.ev.Group, it.ev.GroupMessage.Seq)
			}
		case <-c.done:
			return
		}
	}
}
