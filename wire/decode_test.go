package wire

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// TestDecode_Bombs feeds known msgpack allocation bombs to Decode for every
// body type. Each must be refused by the length walk (not merely by
// whatever msgpack version happens to be linked), and memory must stay
// bounded across all of them.
func TestDecode_Bombs(t *testing.T) {
	bs := bombs()
	checked := 0
	grew := allocated(func() {
		for name, bomb := range bs {
			if err := CheckBody(bomb); !errors.Is(err, ErrBadBody) {
				t.Errorf("%s: checkBody = %v, want ErrBadBody", name, err)
			}
			for _, typ := range allTypes() {
				err := Decode(bomb, NewBody(typ))
				if !errors.Is(err, ErrBadBody) {
					t.Errorf("%s into %s: err = %v, want ErrBadBody", name, typ, err)
					continue
				}
				if CodeOf(err) != CodeBadBody {
					t.Errorf("%s: CodeOf = %s", name, CodeOf(err))
				}
				checked++
			}
		}
	})
	if grew > 4<<20 {
		t.Errorf("decoding %d bombs grew the heap by %d bytes", checked, grew)
	}
	t.Logf("%d bomb decodes, heap +%d bytes", checked, grew)
}

// TestDecode_BombsReachTheWalk shows that the map-shaped bombs get past the
// "body is a map" check and are stopped by the length walk itself.
func TestDecode_BombsReachTheWalk(t *testing.T) {
	for name, bomb := range bombs() {
		if !isMap(bomb[0]) {
			continue
		}
		err := Decode(bomb, new(Friends))
		if err == nil || strings.Contains(err.Error(), "msgpack:") {
			t.Errorf("%s: %v: want a refusal from the walk, before msgpack", name, err)
		}
	}
}

func TestDecode_Depth(t *testing.T) {
	nest := func(n int) []byte {
		b := append(bytes.Repeat([]byte{0x91}, n), 0xc0)
		return b
	}
	if err := CheckBody(nest(maxDepth)); err != nil {
		t.Errorf("%d levels: %v", maxDepth, err)
	}
	if err := CheckBody(nest(maxDepth + 1)); !errors.Is(err, ErrBadBody) {
		t.Errorf("%d levels: err = %v, want ErrBadBody", maxDepth+1, err)
	}
}

func TestDecode_Strict(t *testing.T) {
	send := func(kv ...[]byte) []byte {
		b := appendMapLen(nil, len(kv)/2)
		for _, x := range kv {
			b = append(b, x...)
		}
		return b
	}
	str := func(s string) []byte { return appendStr(nil, s) }
	valid := send(str("to"), str("bob"), str("cmid"), []byte{7})
	cases := []struct {
		name string
		body []byte
		want string // in the error text; "" means it must decode
	}{
		{"valid", valid, ""},
		{"unknown field", send(str("to"), str("bob"), str("colour"), str("red")), "unknown field"},
		{"misspelled field", send(str("To"), str("bob")), "unknown field"},
		{"wrong type: string for uint", send(str("cmid"), str("7")), "invalid code"},
		{"wrong type: uint for string", send(str("to"), []byte{7}), "invalid code"},
		{"wrong type: map for bytes", send(str("body"), []byte{0x80}), "invalid code"},
		{"non-string key", []byte{0x81, 0x01, 0x01}, "invalid code"},
		{"trailing bytes", append(append([]byte{}, valid...), 0xc0), "trailing"},
		{"two maps", append(append([]byte{}, valid...), valid...), "trailing"},
		{"array instead of map", []byte{0x94, 0xa3, 'b', 'o', 'b', 0x07, 0xc0, 0x00}, "not a map"},
		{"nil instead of map", []byte{0xc0}, "not a map"},
		{"scalar", []byte{0x07}, "not a map"},
		{"truncated", valid[:len(valid)-1], "ends"},
		{"reserved code", []byte{0x81, 0xa2, 't', 'o', 0xc1}, "invalid msgpack code 0xc1"},
	}
	for _, c := range cases {
		var s Send
		err := Decode(c.body, &s)
		if c.want == "" {
			if err != nil || s.To != "bob" || s.CMID != 7 {
				t.Errorf("%s: %+v, %v", c.name, s, err)
			}
			continue
		}
		if !errors.Is(err, ErrBadBody) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want ErrBadBody mentioning %q", c.name, err, c.want)
		}
	}
}

func TestDecode_EmptyBody(t *testing.T) {
	for _, typ := range allTypes() {
		v := NewBody(typ)
		if err := Decode(nil, v); err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		if !reflect.ValueOf(v).Elem().IsZero() {
			t.Fatalf("%s: not zero", typ)
		}
	}
	// A reused struct is zeroed, for empty and non-empty bodies alike:
	// absent keys mean zero values.
	s := Send{To: "old", CMID: 1, TTLMS: 5}
	if err := Decode(nil, &s); err != nil || !reflect.ValueOf(s).IsZero() {
		t.Fatalf("empty body into a used struct: %+v, %v", s, err)
	}
	s = Send{To: "old", CMID: 1, TTLMS: 5}
	if err := Decode([]byte{0x81, 0xa4, 'c', 'm', 'i', 'd', 0x02}, &s); err != nil || !reflect.DeepEqual(s, Send{CMID: 2}) {
		t.Fatalf("partial body into a used struct: %+v, %v", s, err)
	}
	if err := Decode([]byte{0x80}, new(Empty)); err != nil {
		t.Fatalf("empty map into Empty: %v", err)
	}
	if err := Decode([]byte{0x80}, Send{}); err == nil {
		t.Fatal("Decode into a non-pointer: want an error")
	}
}

func TestDecode_ErrorQuotesInput(t *testing.T) {
	err := Decode([]byte{0x82, 0xa2, 't', 'o', 0xdd, 0xff, 0xff, 0xff, 0xff}, new(Send))
	if err == nil || !strings.Contains(err.Error(), "dd ff ff ff ff") || !strings.Contains(err.Error(), "offset 4") {
		t.Fatalf("error %q should quote the bytes at offset 4", err)
	}
	long := appendStr([]byte{0x81, 0xa3, 'b', 'a', 'd'}, strings.Repeat("x", 100))
	err = Decode(long, new(Send))
	if err == nil || !strings.Contains(err.Error(), "...") || len(err.Error()) > 200 {
		t.Fatalf("error %q should quote a short snippet", err)
	}
	// msgpack quotes unknown field names; a long one is cut short.
	huge := appendStr([]byte{0x81}, strings.Repeat("k", 5000))
	huge = append(huge, 0xc0)
	err = Decode(huge, new(Send))
	if !errors.Is(err, ErrBadBody) || len(err.Error()) > 250 {
		t.Fatalf("error of %d bytes: %.300q", len(err.Error()), err)
	}
	t.Log(err)
}
