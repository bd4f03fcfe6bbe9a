package gossip

import (
	"encoding/binary"
	"fmt"
)

// Limits on what travels in gossip.
const (
	// MaxMetaSize bounds the encoding of a Meta (its own fields). The cluster
	// id and flags this package adds cost at most maxClusterIDLen+3 more
	// bytes, so a node's meta stays well under memberlist's 512-byte
	// MetaMaxSize and inside one UDP packet with room to spare.
	MaxMetaSize = 256
	// maxClusterIDLen bounds ClusterParams.ClusterID.
	maxClusterIDLen = 64
	// MaxPartitions bounds ClusterParams.Partitions (partition ids are
	// uint16 on the internal port).
	MaxPartitions = 1 << 16
	// MaxReplicas bounds ClusterParams.Replicas.
	MaxReplicas = 255
)

// Meta is the metadata a node advertises to the others.
type Meta struct {
	ClientAddr   string // host:port clients connect to
	InternalAddr string // host:port of the node's internal (mux) port
	Load         uint32 // opaque load figure, updated with SetLoad
	// Leaders is how many partitions the node leads, updated with
	// SetLeaders; -1 when its meta does not say (an older node).
	Leaders int
}

// ClusterParams are fixed when a cluster is created and learned by every
// node that joins it.
type ClusterParams struct {
	ClusterID  string
	Partitions int
	Replicas   int
}

// Validate reports whether p is usable.
func (p ClusterParams) Validate() error {
	switch {
	case p.ClusterID == "":
		return fmt.Errorf("empty ClusterID")
	case len(p.ClusterID) > maxClusterIDLen:
		return fmt.Errorf("ClusterID longer than %d bytes", maxClusterIDLen)
	case p.Partitions < 1 || p.Partitions > MaxPartitions:
		return fmt.Errorf("Partitions %d not in [1, %d]", p.Partitions, MaxPartitions)
	case p.Replicas < 1 || p.Replicas > MaxReplicas:
		return fmt.Errorf("Replicas %d not in [1, %d]", p.Replicas, MaxReplicas)
	}
	return nil
}

// Wire formats. Both start with a version byte; decoders ignore bytes after
// the fields they know, so fields can be appended without a new version.
//
// meta   = 0x01 flags:u8 clusterID:str clientAddr:str internalAddr:str load:u32be [leaders+1:uvarint]
// params = 0x01 clusterID:str partitions:uvarint replicas:uvarint
// str    = len:uvarint bytes
const (
	metaVersion   = 1
	paramsVersion = 1

	flagLeaving  = 1 << 0 // the node is leaving gracefully (set by Leave)
	flagDraining = 1 << 1 // the node is draining (SetDraining): no new clients, no leaderships
)

// nodeMeta is what a node actually gossips: the public Meta plus the
// cluster id (once known) and flags.
type nodeMeta struct {
	Meta
	ClusterID string
	Flags     uint8
}

func (m nodeMeta) leaving() bool { return m.Flags&flagLeaving != 0 }

func (m nodeMeta) draining() bool { return m.Flags&flagDraining != 0 }

func (m nodeMeta) encode() []byte {
	b := make([]byte, 0, 2+4*binary.MaxVarintLen32+len(m.ClusterID)+len(m.ClientAddr)+len(m.InternalAddr)+4)
	b = append(b, metaVersion, m.Flags)
	b = appendStr(b, m.ClusterID)
	b = appendStr(b, m.ClientAddr)
	b = appendStr(b, m.InternalAddr)
	b = binary.BigEndian.AppendUint32(b, m.Load)
	if m.Leaders >= 0 {
		b = binary.AppendUvarint(b, uint64(m.Leaders)+1)
	}
	return b
}

// metaSize is the size of m's own fields on the wire, as checked against
// MaxMetaSize.
func metaSize(m Meta) int { return len(nodeMeta{Meta: m}.encode()) }

func decodeMeta(b []byte) (nodeMeta, error) {
	var m nodeMeta
	d := decoder{b: b}
	if v := d.byte(); d.err == nil && v != metaVersion {
		return m, fmt.Errorf("%w: meta version %d", errBadEncoding, v)
	}
	m.Flags = d.byte()
	m.ClusterID = d.str(maxClusterIDLen)
	m.ClientAddr = d.str(MaxMetaSize)
	m.InternalAddr = d.str(MaxMetaSize)
	m.Load = d.u32()
	m.Leaders = -1
	if d.err == nil && len(d.b) > 0 {
		if v := d.uvarint(MaxPartitions + 1); v > 0 {
			m.Leaders = int(v) - 1
		} else {
			d.fail("leader count") // encode writes the field only with a count
		}
	}
	if d.err != nil {
		return nodeMeta{}, fmt.Errorf("%w: meta: %v", errBadEncoding, d.err)
	}
	return m, nil
}

func encodeParams(p ClusterParams) []byte {
	b := make([]byte, 0, 1+binary.MaxVarintLen16+len(p.ClusterID)+2*binary.MaxVarintLen32)
	b = append(b, paramsVersion)
	b = appendStr(b, p.ClusterID)
	b = binary.AppendUvarint(b, uint64(p.Partitions))
	return binary.AppendUvarint(b, uint64(p.Replicas))
}

func decodeParams(b []byte) (ClusterParams, error) {
	var p ClusterParams
	d := decoder{b: b}
	if v := d.byte(); d.err == nil && v != paramsVersion {
		return p, fmt.Errorf("%w: params version %d", errBadEncoding, v)
	}
	p.ClusterID = d.str(maxClusterIDLen)
	p.Partitions = int(d.uvarint(MaxPartitions))
	p.Replicas = int(d.uvarint(MaxReplicas))
	if d.err != nil {
		return ClusterParams{}, fmt.Errorf("%w: params: %v", errBadEncoding, d.err)
	}
	if err := p.Validate(); err != nil {
		return ClusterParams{}, fmt.Errorf("%w: params: %v", errBadEncoding, err)
	}
	return p, nil
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decoder reads fields from b; after the first error every read returns a
// zero value and err stays set.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("short or bad %s at byte %d", what, len(d.b))
	}
}

func (d *decoder) byte() uint8 {
	if d.err != nil || len(d.b) < 1 {
		d.fail("byte")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) uvarint(max uint64) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	// Canonical only: an overlong varint (80 00 for 0) is rejected, so
	// every accepted encoding is the one encode produces.
	if n <= 0 || v > max || n != len(binary.AppendUvarint(nil, v)) {
		d.fail("uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// str reads a length-prefixed string, checking the declared length against
// max and against the bytes that remain before allocating.
func (d *decoder) str(max int) string {
	n := d.uvarint(uint64(max))
	if d.err != nil {
		return ""
	}
	if uint64(len(d.b)) < n {
		d.fail("string")
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) u32() uint32 {
	if d.err != nil || len(d.b) < 4 {
		d.fail("uint32")
		return 0
	}
	v := binary.BigEndian.Uint32(d.b)
	d.b = d.b[4:]
	return v
}
