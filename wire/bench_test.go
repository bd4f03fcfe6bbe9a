package wire

import (
	"bytes"
	"testing"
)

func benchSend() *Send {
	return &Send{To: "bob", CMID: 123456, Body: bytes.Repeat([]byte("hello "), 20), TTLMS: 60000}
}

// BenchmarkAppendFrame encodes a Send frame into a reused buffer: the send
// path's cost, with a 0 allocs/op target.
func BenchmarkAppendFrame(b *testing.B) {
	s := benchSend()
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = AppendFrame(buf[:0], TSend, 7, s); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}

// BenchmarkAppendFrameMessage is the push path (msgpack's reflective
// encoder, no fast path).
func BenchmarkAppendFrameMessage(b *testing.B) {
	m := &Message{Seq: 1 << 20, ID: 1 << 40, From: "alice", FromDevice: "phone-1", Body: bytes.Repeat([]byte("x"), 120), SentMS: 1.7e12, ExpiresMS: 1.8e12}
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = AppendFrame(buf[:0], TMessage, 0, m); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}

// BenchmarkDecoder splits a stream of frames of every type into 1500-byte
// pieces (one Ethernet payload each) and decodes the frames.
func BenchmarkDecoder(b *testing.B) {
	frames, data := stream(b, 20)
	d := NewDecoder(1 << 20)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		n := 0
		for p := data; len(p) > 0; {
			k := min(len(p), 1500)
			d.Feed(p[:k])
			p = p[k:]
			for {
				_, ok, err := d.Next()
				if err != nil {
					b.Fatal(err)
				}
				if !ok {
					break
				}
				n++
			}
		}
		if n != len(frames) {
			b.Fatalf("%d frames, want %d", n, len(frames))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(frames)), "ns/frame")
}

// BenchmarkReader reads the same stream through a Reader.
func BenchmarkReader(b *testing.B) {
	_, data := stream(b, 20)
	src := bytes.NewReader(data)
	rd := NewReader(src, 1<<20)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		src.Reset(data)
		for {
			if _, err := rd.ReadFrame(); err != nil {
				break
			}
		}
	}
}

// BenchmarkDecodeSend decodes a Send body strictly (walk + msgpack).
func BenchmarkDecodeSend(b *testing.B) {
	body, err := Encode(benchSend())
	if err != nil {
		b.Fatal(err)
	}
	var s Send
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if err := Decode(body, &s); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckBody is the cost of the bomb guard alone.
func BenchmarkCheckBody(b *testing.B) {
	body, _ := Encode(benchSend())
	b.ReportAllocs()
	for b.Loop() {
		if err := CheckBody(body); err != nil {
			b.Fatal(err)
		}
	}
}
