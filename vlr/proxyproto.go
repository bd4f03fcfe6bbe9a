package vlr

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
)

// PROXY protocol version 2 (the haproxy specification, section 2.2): a
// load balancer in front of the client port prepends a binary header that
// carries the client's real address. Only connections from
// Config.TrustedProxies are read this way (see conn.open).
//
//	+---------------------------+-----+-----+----------+------------------+
//	| signature (12 bytes)      | ver | fam | len (BE) | addresses, TLVs  |
//	| 0D 0A 0D 0A 00 0D 0A 51   | cmd | tr  | uint16   | len bytes        |
//	| 55 49 54 0A               |     |     |          |                  |
//	+---------------------------+-----+-----+----------+------------------+
//
// ver/cmd: high nibble 2 (the version), low nibble 0 (LOCAL: the proxy's
// own connection, e.g. a health check; the addresses are ignored) or 1
// (PROXY). fam/tr: high nibble the address family (0 unspecified, 1 IPv4,
// 2 IPv6, 3 Unix), low nibble the transport (0 unspecified, 1 stream,
// 2 datagram). The addresses are source, destination, source port,
// destination port; TLVs (type, uint16 length, value) follow them.

// proxySig is the 12-byte signature that starts a v2 header.
var proxySig = []byte{0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a}

const (
	// proxyFixedLen is the signature, ver/cmd, fam/tr and the length.
	proxyFixedLen = 16
	// maxProxyPayload bounds the addresses and TLVs we accept (the
	// format allows 65535): the Unix addresses (216 bytes) and the TLVs
	// real load balancers send fit easily.
	maxProxyPayload = 2048
	// maxProxyHeader is the longest header readProxyHeader reads.
	maxProxyHeader = proxyFixedLen + maxProxyPayload

	proxyCmdLocal = 0x0
	proxyCmdProxy = 0x1

	proxyFamUnspec = 0x0
	proxyFamInet   = 0x1
	proxyFamInet6  = 0x2
	proxyFamUnix   = 0x3

	proxyTrUnspec = 0x0
	proxyTrStream = 0x1
)

// Errors of the PROXY header decoder. A connection whose header fails is
// closed without a frame: the peer is the proxy, not a client.
var (
	errProxyShort     = errors.New("vlr: proxy header: incomplete")
	errProxySignature = errors.New("vlr: proxy header: no v2 signature")
	errProxyBad       = errors.New("vlr: proxy header: malformed")
)

// proxyHeader is a decoded v2 header.
type proxyHeader struct {
	// Local is set for the LOCAL command, and for a PROXY command whose
	// family carries no IP address (unspecified, Unix): the connection
	// keeps the proxy's address.
	Local bool
	// Src and Dst are the client's and the proxy's listening addresses
	// (PROXY over IPv4 or IPv6 only).
	Src, Dst netip.AddrPort
	// TLVs counts the type-length-value records after the addresses
	// (their contents are not used).
	TLVs int
}

// parseProxyHeader decodes the v2 header at the start of p. It returns the
// header and its length in bytes. When p holds only the start of a header
// that is valid so far, it returns an error wrapping errProxyShort and
// need, the total length the header needs (known once the fixed part is
// there; else proxyFixedLen). It never reads past the header's length.
func parseProxyHeader(p []byte) (h proxyHeader, n int, need int, err error) {
	head := min(len(p), len(proxySig))
	if !bytes.Equal(p[:head], proxySig[:head]) {
		return h, 0, 0, fmt.Errorf("%w [% x]", errProxySignature, p[:head])
	}
	if len(p) < proxyFixedLen {
		if len(p) > len(proxySig) && p[12]>>4 != 2 {
			return h, 0, 0, fmt.Errorf("%w: version %d", errProxyBad, p[12]>>4)
		}
		return h, 0, proxyFixedLen, errProxyShort
	}
	ver, cmd := p[12]>>4, p[12]&0xf
	fam, tr := p[13]>>4, p[13]&0xf
	size := int(binary.BigEndian.Uint16(p[14:16]))
	switch {
	case ver != 2:
		return h, 0, 0, fmt.Errorf("%w: version %d", errProxyBad, ver)
	case cmd != proxyCmdLocal && cmd != proxyCmdProxy:
		return h, 0, 0, fmt.Errorf("%w: command %d", errProxyBad, cmd)
	case fam > proxyFamUnix || tr > 2:
		return h, 0, 0, fmt.Errorf("%w: family/transport %#02x", errProxyBad, p[13])
	case size > maxProxyPayload:
		return h, 0, 0, fmt.Errorf("%w: %d bytes of addresses and TLVs (at most %d)", errProxyBad, size, maxProxyPayload)
	}
	total := proxyFixedLen + size
	if len(p) < total {
		return h, 0, total, errProxyShort
	}
	body := p[proxyFixedLen:total]
	var addrLen int
	switch fam {
	case proxyFamInet:
		addrLen = 12
	case proxyFamInet6:
		addrLen = 36
	case proxyFamUnix:
		addrLen = 216
	}
	if len(body) < addrLen {
		return h, 0, 0, fmt.Errorf("%w: %d bytes for a family that needs %d", errProxyBad, len(body), addrLen)
	}
	if cmd == proxyCmdLocal || fam == proxyFamUnspec || fam == proxyFamUnix {
		h.Local = true
	} else {
		if tr != proxyTrStream {
			return h, 0, 0, fmt.Errorf("%w: transport %d is not a stream", errProxyBad, tr)
		}
		if fam == proxyFamInet {
			h.Src = netip.AddrPortFrom(netip.AddrFrom4([4]byte(body[0:4])), binary.BigEndian.Uint16(body[8:10]))
			h.Dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte(body[4:8])), binary.BigEndian.Uint16(body[10:12]))
		} else {
			h.Src = netip.AddrPortFrom(netip.AddrFrom16([16]byte(body[0:16])), binary.BigEndian.Uint16(body[32:34]))
			h.Dst = netip.AddrPortFrom(netip.AddrFrom16([16]byte(body[16:32])), binary.BigEndian.Uint16(body[34:36]))
		}
	}
	// The rest is TLVs, each of which must fit. Their contents are
	// ignored (unknown types must be, by the specification).
	tlvs := body[addrLen:]
	for len(tlvs) > 0 {
		if len(tlvs) < 3 {
			return h, 0, 0, fmt.Errorf("%w: %d stray bytes after the TLVs", errProxyBad, len(tlvs))
		}
		l := int(binary.BigEndian.Uint16(tlvs[1:3]))
		if 3+l > len(tlvs) {
			return h, 0, 0, fmt.Errorf("%w: TLV type %#02x of %d bytes overruns the header", errProxyBad, tlvs[0], l)
		}
		tlvs = tlvs[3+l:]
		h.TLVs++
	}
	return h, total, total, nil
}

// readProxyHeader reads one v2 header from r, and not a byte more: what
// follows (a TLS ClientHello, the first frame) stays unread. The caller
// bounds the time with a read deadline.
func readProxyHeader(r io.Reader) (proxyHeader, error) {
	var buf [maxProxyHeader]byte
	have := 0
	need := proxyFixedLen
	for {
		m, err := io.ReadFull(r, buf[have:need])
		have += m
		if err != nil {
			// What did arrive may already be wrong.
			if _, _, _, perr := parseProxyHeader(buf[:have]); have > 0 && !errors.Is(perr, errProxyShort) {
				return proxyHeader{}, perr
			}
			if err == io.EOF && have > 0 {
				err = io.ErrUnexpectedEOF
			}
			return proxyHeader{}, err
		}
		h, _, next, err := parseProxyHeader(buf[:have])
		if !errors.Is(err, errProxyShort) {
			return h, err
		}
		need = next
	}
}
