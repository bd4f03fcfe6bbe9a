package gate

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
)

// FuzzDecoder feeds arbitrary bytes to the frame decoder, whole and split
// in two at every fuzzer-chosen point, and decodes every frame's body by
// its type, and then as the receiving gate does: through the Handler
// registered for its kind (OneWay and Request decoding, a request's
// Deadline), running the one-way ones. The decoder must agree with itself
// across the split, never panic, and never allocate beyond the frame cap;
// every error wraps ErrProtocol.
func FuzzDecoder(f *testing.F) {
	reg := &Gate{}
	registerTestKinds(reg, &fakeHandler{discard: true})
	stream := sampleStream(f)
	f.Add(stream, uint16(7))
	f.Add(stream[:len(stream)/2], uint16(3))
	f.Add([]byte{0, 0, 0, 10, frameExec, 0, 0, 0, 1, 0xdd, 0xff, 0xff, 0xff, 0xff}, uint16(5))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff}, uint16(1))
	f.Add([]byte{0, 0, 0, 6, framePresence, 0, 0, 0, 0, 0x80}, uint16(0))
	f.Add([]byte{}, uint16(0))
	f.Fuzz(func(t *testing.T, data []byte, at uint16) {
		const maxFrame = 1 << 16
		whole, werr := decodeAll(&chunks{bytes.Clone(data)}, maxFrame)
		k := int(at) % (len(data) + 1)
		split, serr := decodeAll(&chunks{bytes.Clone(data[:k]), bytes.Clone(data[k:])}, maxFrame)
		if !reflect.DeepEqual(whole, split) || (werr == nil) != (serr == nil) {
			t.Fatalf("split at %d changes the result: %d frames (%v) vs %d frames (%v)", k, len(whole), werr, len(split), serr)
		}
		if werr != nil && werr != io.ErrUnexpectedEOF && !errors.Is(werr, ErrProtocol) {
			t.Fatalf("unexpected error %v", werr)
		}
		for _, fr := range whole {
			if len(fr.body)+minFrameLen > maxFrame {
				t.Fatalf("frame of %d bytes passed a %d cap", len(fr.body), maxFrame)
			}
			if _, err := decodeAny(fr.typ, fr.body); err != nil && !errors.Is(err, ErrProtocol) {
				t.Fatalf("%s body: error %v does not wrap ErrProtocol", frameName(fr.typ), err)
			}
			h := reg.handlers[fr.typ]
			switch {
			case h == nil:
			case h.oneWay != nil:
				run, err := h.oneWay(fr.body)
				if err != nil && !errors.Is(err, ErrProtocol) {
					t.Fatalf("%s item: error %v does not wrap ErrProtocol", h.name, err)
				}
				if err == nil {
					run("n1")
				}
			case h.call != nil:
				ttl, run, err := h.call(fr.body)
				if err != nil && !errors.Is(err, ErrProtocol) {
					t.Fatalf("%s request: error %v does not wrap ErrProtocol", h.name, err)
				}
				if err == nil && (run == nil || ttl < 0) {
					t.Fatalf("%s request decoded without a call", h.name)
				}
			}
		}
	})
}
