package vlr

// Delivery repair, the visitor register's side. A partition leader forwards
// each committed message to the nodes holding its recipient's devices
// (Deliver), and remembers what it forwarded until the node acknowledges
// it; a forward that is not acknowledged in time is followed by a Notice,
// which carries only how far the stream goes. Both are answered with a
// DeliveryAck per device: the session has taken everything through Seq
// (delivered it, or will: it catches up from the inbox as long as it
// lives), or there is no such session here (Gone: nothing to repair; the
// device syncs from its cursor when it next logs in).

// Notice tells the node holding (User, Device) at Epoch that User's inbox
// reaches Head.
type Notice struct {
	User   string `msgpack:"u"`
	Device string `msgpack:"d"`
	Epoch  uint64 `msgpack:"e"`
	Head   uint64 `msgpack:"h"`
}

// DeliveryAck answers a Deliver or a Notice for one device.
type DeliveryAck struct {
	User   string `msgpack:"u"`
	Device string `msgpack:"d"`
	Epoch  uint64 `msgpack:"e"`
	Seq    uint64 `msgpack:"q,omitempty"` // the session has taken everything through Seq
	Gone   bool   `msgpack:"g,omitempty"` // no session of (User, Device, Epoch) at this node
}
