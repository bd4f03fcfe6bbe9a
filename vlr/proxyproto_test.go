package vlr

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"net/netip"
	"strings"
	"testing"
	"testing/iotest"
)

// hx decodes hex with spaces.
func hx(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const sigHex = "0d0a0d0a000d0a515549540a"

func TestProxyHeader_Bytes(t *testing.T) {
	cases := []struct {
		name  string
		in    string
		want  proxyHeader
		n     int
		err   error
		extra string // bytes after the header, left unread
	}{
		{name: "IPv4 PROXY",
			// 192.0.2.1:51000 -> 198.51.100.7:7400
			in:   sigHex + " 21 11 000c c0000201 c6336407 c738 1ce8",
			want: proxyHeader{Src: netip.MustParseAddrPort("192.0.2.1:51000"), Dst: netip.MustParseAddrPort("198.51.100.7:7400")},
			n:    28, extra: "00000005"},
		{name: "IPv6 PROXY",
			in:   sigHex + " 21 21 0024 20010db8000000000000000000000001 20010db8000000000000000000000002 0050 1ce8",
			want: proxyHeader{Src: netip.MustParseAddrPort("[2001:db8::1]:80"), Dst: netip.MustParseAddrPort("[2001:db8::2]:7400")},
			n:    52},
		{name: "LOCAL, no addresses",
			in: sigHex + " 20 00 0000", want: proxyHeader{Local: true}, n: 16, extra: "16030100"},
		{name: "LOCAL with IPv4 addresses (ignored)",
			in: sigHex + " 20 11 000c 7f000001 7f000001 0001 0002", want: proxyHeader{Local: true}, n: 28},
		{name: "PROXY unspecified family keeps the proxy's address",
			in: sigHex + " 21 00 0000", want: proxyHeader{Local: true}, n: 16},
		{name: "PROXY Unix family keeps the proxy's address",
			in: sigHex + " 21 31 00d8 " + strings.Repeat("00", 216), want: proxyHeader{Local: true}, n: 232},
		{name: "IPv4 with TLVs (ALPN, authority, NOOP)",
			in:   sigHex + " 21 11 001c 0a000001 0a000002 1f90 1ce8 01 0002 6832 02 0004 726f616d 04 0001 00",
			want: proxyHeader{Src: netip.MustParseAddrPort("10.0.0.1:8080"), Dst: netip.MustParseAddrPort("10.0.0.2:7400"), TLVs: 3},
			n:    44},
		{name: "empty TLV value",
			in:   sigHex + " 21 11 000f 0a000001 0a000002 1f90 1ce8 05 0000",
			want: proxyHeader{Src: netip.MustParseAddrPort("10.0.0.1:8080"), Dst: netip.MustParseAddrPort("10.0.0.2:7400"), TLVs: 1},
			n:    31},
		{name: "wrong signature (v1 text)", in: hex.EncodeToString([]byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n")), err: errProxySignature},
		{name: "wrong signature (a roam frame)", in: "0000001a0100000001", err: errProxySignature},
		{name: "one wrong signature byte", in: "0d0a0d0a000d0a515549540b 21 11 000c c0000201 c6336407 c738 1ce8", err: errProxySignature},
		{name: "version 1 nibble", in: sigHex + " 11 11 000c c0000201 c6336407 c738 1ce8", err: errProxyBad},
		{name: "bad command", in: sigHex + " 22 11 000c c0000201 c6336407 c738 1ce8", err: errProxyBad},
		{name: "bad family", in: sigHex + " 21 41 000c c0000201 c6336407 c738 1ce8", err: errProxyBad},
		{name: "bad transport", in: sigHex + " 21 13 000c c0000201 c6336407 c738 1ce8", err: errProxyBad},
		{name: "datagram PROXY", in: sigHex + " 21 12 000c c0000201 c6336407 c738 1ce8", err: errProxyBad},
		{name: "IPv4 length too short for addresses", in: sigHex + " 21 11 0008 c0000201 c6336407", err: errProxyBad},
		{name: "IPv6 length too short for addresses", in: sigHex + " 21 21 000c c0000201 c6336407 c738 1ce8", err: errProxyBad},
		{name: "length above the bound", in: sigHex + " 21 11 0801", err: errProxyBad},
		{name: "length 0xffff", in: sigHex + " 21 11 ffff", err: errProxyBad},
		{name: "TLV overruns the header", in: sigHex + " 21 11 0011 0a000001 0a000002 1f90 1ce8 01 0005 6832", err: errProxyBad},
		{name: "stray bytes after addresses", in: sigHex + " 21 11 000e 0a000001 0a000002 1f90 1ce8 0102", err: errProxyBad},
		{name: "truncated signature", in: "0d0a0d0a00", err: errProxyShort},
		{name: "truncated fixed part", in: sigHex + " 21 11 00", err: errProxyShort},
		{name: "truncated addresses", in: sigHex + " 21 11 000c c0000201 c633", err: errProxyShort},
		{name: "empty", in: "", err: errProxyShort},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := hx(t, tc.in)
			h, n, _, err := parseProxyHeader(in)
			if !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if err != nil {
				if n != 0 {
					t.Fatalf("n = %d with an error", n)
				}
				// From a stream: a short header is an unexpected EOF,
				// the rest the same error.
				_, rerr := readProxyHeader(bytes.NewReader(in))
				want := tc.err
				if want == errProxyShort {
					want = io.ErrUnexpectedEOF
					if len(in) == 0 {
						want = io.EOF
					}
				}
				if !errors.Is(rerr, want) {
					t.Fatalf("readProxyHeader: %v, want %v", rerr, want)
				}
				return
			}
			if h != tc.want || n != tc.n {
				t.Fatalf("got %+v (%d bytes), want %+v (%d bytes)", h, n, tc.want, tc.n)
			}
			// Read from a stream one byte at a time: same header, and
			// the bytes after it are left for the next reader.
			extra := hx(t, tc.extra)
			r := bytes.NewReader(append(append([]byte{}, in...), extra...))
			rh, err := readProxyHeader(iotest.OneByteReader(r))
			if err != nil || rh != tc.want {
				t.Fatalf("readProxyHeader: %+v, %v", rh, err)
			}
			if r.Len() != len(extra) {
				t.Fatalf("readProxyHeader left %d bytes, want %d", r.Len(), len(extra))
			}
		})
	}
}

// TestProxyHeader_ShortNeed: an incomplete header says how much it needs,
// and never more than the header's own length.
func TestProxyHeader_ShortNeed(t *testing.T) {
	full := hx(t, sigHex+" 21 11 000c c0000201 c6336407 c738 1ce8")
	for i := 0; i < len(full); i++ {
		_, _, need, err := parseProxyHeader(full[:i])
		if !errors.Is(err, errProxyShort) {
			t.Fatalf("prefix %d: %v", i, err)
		}
		if want := proxyFixedLen; i >= proxyFixedLen {
			want = len(full)
			if need != want {
				t.Fatalf("prefix %d: need %d, want %d", i, need, want)
			}
		} else if need != want {
			t.Fatalf("prefix %d: need %d, want %d", i, need, want)
		}
	}
}

// twoPieces returns data in two reads, cut at at.
type twoPieces struct {
	data []byte
	at   int
	off  int
}

func (p *twoPieces) Read(b []byte) (int, error) {
	if p.off >= len(p.data) {
		return 0, io.EOF
	}
	end := len(p.data)
	if p.off < p.at {
		end = p.at
	}
	n := copy(b, p.data[p.off:end])
	p.off += n
	return n, nil
}

// FuzzProxyHeader: the stream reader, fed the input in two pieces cut
// anywhere, agrees with the parser on the whole input, never panics and
// never reads past the header.
//
//	go test -run='^$' -fuzz='^FuzzProxyHeader$' -fuzztime=10s ./vlr
func FuzzProxyHeader(f *testing.F) {
	for _, s := range []string{
		sigHex + " 21 11 000c c0000201 c6336407 c738 1ce8 00000005",
		sigHex + " 21 21 0024 20010db8000000000000000000000001 20010db8000000000000000000000002 0050 1ce8",
		sigHex + " 20 00 0000",
		sigHex + " 21 11 001c 0a000001 0a000002 1f90 1ce8 01 0002 6832 02 0004 726f616d 04 0001 00",
		sigHex + " 21 11 0011 0a000001 0a000002 1f90 1ce8 01 0005 6832",
		sigHex + " 21 11 ffff",
		sigHex + " 21 31 00d8 " + strings.Repeat("00", 216),
		"0000001a0100000001",
	} {
		b := hx(f, s)
		f.Add(b, uint16(len(b)/2))
		f.Add(b, uint16(13))
	}
	f.Fuzz(func(t *testing.T, data []byte, cut uint16) {
		h, n, need, err := parseProxyHeader(data)
		if err == nil && (n < proxyFixedLen || n > len(data) || n > maxProxyHeader) {
			t.Fatalf("header length %d of %d bytes", n, len(data))
		}
		if errors.Is(err, errProxyShort) && need <= len(data) {
			t.Fatalf("short with need %d and %d bytes", need, len(data))
		}
		if err == nil && !h.Local && (!h.Src.IsValid() || !h.Dst.IsValid()) {
			t.Fatalf("PROXY header without addresses: %+v", h)
		}
		at := int(cut) % (len(data) + 1)
		src := &twoPieces{data: data, at: at}
		rh, rerr := readProxyHeader(src)
		switch {
		case err == nil:
			if rerr != nil || rh != h {
				t.Fatalf("cut %d: reader %+v, %v; parser %+v", at, rh, rerr, h)
			}
			if src.off != n {
				t.Fatalf("cut %d: reader consumed %d bytes, header is %d", at, src.off, n)
			}
		case errors.Is(err, errProxyShort):
			if rerr != io.ErrUnexpectedEOF && rerr != io.EOF {
				t.Fatalf("cut %d: short input, reader says %v", at, rerr)
			}
		default:
			if !errors.Is(rerr, errProxySignature) && !errors.Is(rerr, errProxyBad) {
				t.Fatalf("cut %d: parser %v, reader %v", at, err, rerr)
			}
		}
	})
}
