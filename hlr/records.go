package hlr

// Records stored in the state machine. They are encoded with msgpack using
// short field names; every field is append-only (never renumber or reuse a
// name) because records outlive the binary that wrote them.

// Account is a registered user: SCRAM credentials and profile.
type Account struct {
	User        string `msgpack:"u"`
	Salt        []byte `msgpack:"s"`
	Iters       uint32 `msgpack:"i"`
	StoredKey   []byte `msgpack:"k"`
	ServerKey   []byte `msgpack:"v"`
	CredGen     uint64 `msgpack:"g"` // bumped by every password change
	DisplayName string `msgpack:"n,omitempty"`
	About       string `msgpack:"a,omitempty"`
	CreatedMS   int64  `msgpack:"c"`
}

// Session is a resumable login of one device. Only the SHA-256 of the token
// is stored; the key is (user, token hash).
type Session struct {
	Device    string `msgpack:"d"`
	CreatedMS int64  `msgpack:"c"`
	ExpiresMS int64  `msgpack:"e"`
	CredGen   uint64 `msgpack:"g"`
	// RotatedMS is when a resume rotated an older token into this one
	// (0 for a login's session): a retry of that resume with the old
	// token is granted within ResumeRetryWindowMS of it.
	RotatedMS int64 `msgpack:"r,omitempty"`
	// TryMS is the Cmd.TryMS of the resume attempt that holds this
	// session (the rotation, or a retry granted since).
	TryMS int64 `msgpack:"y,omitempty"`
}

// Location says where one device of a user is attached (Update Location).
// Node is empty when the device is detached.
type Location struct {
	Device string `msgpack:"d"`
	Node   string `msgpack:"n"`
	Epoch  uint64 `msgpack:"e"`
}

// deviceSet is the per-user record of the user's devices, at most the
// device bound of them, sorted by device id. It replaces one record per
// device: a user's devices are read and written with one point lookup,
// whose cost does not grow with the devices evicted or detached before
// (a prefix scan would step over every one of their deletions).
type deviceSet struct {
	Devices []deviceRec `msgpack:"d"`
	// Floor is the highest epoch of a device evicted from the set; a new
	// device starts above it, so no device's epoch ever repeats.
	Floor uint64 `msgpack:"f,omitempty"`
}

// deviceRec is one device of a user: its location (Node empty when
// detached; the record is kept so that the epoch never repeats), when it
// last attached, as a partition-wide sequence number that orders even the
// logins of one batch, and the token hashes of its sessions.
type deviceRec struct {
	Device   string   `msgpack:"d"`
	Node     string   `msgpack:"n,omitempty"`
	Epoch    uint64   `msgpack:"e"`
	Attached uint64   `msgpack:"a"`
	Tokens   [][]byte `msgpack:"t,omitempty"`
}

func (r *deviceRec) location() Location {
	return Location{Device: r.Device, Node: r.Node, Epoch: r.Epoch}
}

// Edge states of the friend graph, stored per (user, peer) in the user's
// home partition.
const (
	EdgeFriend   byte = 1 // user and peer are friends
	EdgeIncoming byte = 2 // peer asked user to be friends
	EdgeOutgoing byte = 3 // user asked peer to be friends
	EdgeBlocked  byte = 4 // user blocked peer
)

// Message is one entry of a user's inbox stream.
type Message struct {
	Seq        uint64 `msgpack:"q"`
	ID         uint64 `msgpack:"i"`
	From       string `msgpack:"f"`
	FromDevice string `msgpack:"d"`
	To         string `msgpack:"t"`
	Body       []byte `msgpack:"b"`
	SentMS     int64  `msgpack:"s"`
	ExpiresMS  int64  `msgpack:"e"`
	// Group streams only (group.go): the kind of an event ("" for a
	// message), the user it concerns and the role it gives.
	Kind    string `msgpack:"k,omitempty"`
	Subject string `msgpack:"j,omitempty"`
	Role    string `msgpack:"r,omitempty"`
}

// inboxHead is the per-user stream header: the last sequence number handed
// out, the sequence number through which messages have expired, and the
// expiry of the newest message (expiry is kept non-decreasing along the
// stream so that messages expire in sequence order).
type inboxHead struct {
	Last       uint64 `msgpack:"l"`
	Expired    uint64 `msgpack:"x"`
	LastExpire int64  `msgpack:"e"`
}

// dedupRecord remembers the acknowledgement of a send so that a retry with
// the same (sender, device, client message id) gets the same answer.
type dedupRecord struct {
	ID  uint64 `msgpack:"i"`
	Seq uint64 `msgpack:"q"`
}

// partMeta is the per-partition bookkeeping written in every apply batch.
type partMeta struct {
	Applied   uint64 `msgpack:"a"`           // last applied raft index
	NowMS     int64  `msgpack:"t"`           // monotonic state-machine clock
	NextMsgID uint64 `msgpack:"m"`           // counter for message ids
	NextBoxID uint64 `msgpack:"o"`           // counter for outbox ids
	Attaches  uint64 `msgpack:"A,omitempty"` // counter of device attachments (deviceRec.Attached)
	NextSched uint64 `msgpack:"k,omitempty"` // counter for schedule ids
	NextClaim uint64 `msgpack:"r,omitempty"` // counter for role claim ids
}

// outboxItem is a command this partition must get applied in another
// partition (for example the other half of a friendship). The leader
// delivers it, at least once, and then proposes OpOutboxDone.
type outboxItem struct {
	ID  uint64 `msgpack:"i"`
	Cmd Cmd    `msgpack:"c"`
}
