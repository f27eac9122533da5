package event

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// decodeSlow is Decode without the fast path: the reference it must agree
// with.
func decodeSlow(b []byte) (*Command, error) {
	var c Command
	err := json.Unmarshal(b, &c)
	return &c, err
}

// agree checks that whatever the fast path accepts, encoding/json decodes
// to the same command.
func agree(t *testing.T, b []byte) bool {
	t.Helper()
	fast, ok := decodeRecordCommand(b)
	if !ok {
		return false
	}
	slow, err := decodeSlow(b)
	if err != nil {
		t.Fatalf("the fast path accepted what encoding/json refuses (%v): %q", err, b)
	}
	if !reflect.DeepEqual(fast, slow) {
		t.Fatalf("the two decodings differ for %q:\nfast %+v\nslow %+v", b, fast, slow)
	}
	return true
}

func TestRecordCommandsTakeTheFastPath(t *testing.T) {
	for _, c := range []*Command{
		{Op: OpCreate, Model: "Product", ID: "0192f1c2-7d5e-7c3a-8000-000000000001", Fields: json.RawMessage(`{"name":"Café \"x\"","price":19.99,"tags":["a","}"]}`), Actor: "admin", Time: 1764316800123456789},
		{Op: OpUpdate, Model: "Order", ID: "o1", Expected: 3, Fields: json.RawMessage(`{}`), Time: -5},
		{Op: OpDelete, Model: "Product", ID: "p9", Expected: 18446744073709551615, Time: 0},
		{Op: OpCreate, Model: "Prödukt", ID: "ü", Fields: json.RawMessage(`{"a":{"b":[{"c":null}]}}`), Time: 1},
	} {
		b, err := c.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if !agree(t, b[1:]) {
			t.Fatalf("a record command went the slow way: %s", b[1:])
		}
		got, err := Decode(b)
		if err != nil || !reflect.DeepEqual(got, c) {
			t.Fatalf("Decode(%s) = %+v, %v", b[1:], got, err)
		}
	}
	// Batches and rule sets, and anything not in Encode's compact form, go
	// through encoding/json.
	rules, _ := (&Command{Op: OpRules, Rules: []RuleFile{{Name: "a.lua", Source: []byte("x")}}, Time: 1}).Encode()
	batch, _ := batchOf(2).Encode()
	for _, b := range [][]byte{rules[1:], batch[1:],
		[]byte(`{"op":"create", "time":1}`), []byte(`{"op":"create","time":1.0}`), []byte(`{"op":"cr\u0065ate","time":1}`),
		[]byte(`{"op":"create","OP":"delete","time":1}`), []byte(`{"op":"create","op":"delete","time":1}`),
		[]byte(`{"op":"create","expected":-1,"time":1}`), []byte(`{"op":"create","time":01}`),
		[]byte(`{"op":"create","fields":null,"time":1}`), []byte(`{"op":"create","fields":{"a":},"time":1}`),
		[]byte("{\"op\":\"\xff\",\"time\":1}"), []byte(`{"op":"batch","time":1}`), []byte(`{"op":"create","time":99999999999999999999}`)} {
		if agree(t, b) {
			t.Fatalf("took the fast path: %s", b)
		}
	}
}

// TestFastPathAgreesWithEncodingJSON mutates encoded commands at random:
// whatever the fast path accepts must decode the same through encoding/json.
func TestFastPathAgreesWithEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	alphabet := []byte(`{}[]":,.-0123456789eE\ u"optimeexpectedfieldsactormodelid` + "\xc3\xa9\xff\x00")
	fast := 0
	for n := range 300_000 {
		c := &Command{Op: []Op{OpCreate, OpUpdate, OpDelete}[n%3], Model: "Product", ID: strings.Repeat("i", n%4),
			Expected: uint64(n % 5), Fields: json.RawMessage(`{"name":"a\"b","n":[1,{"x":"}"}]}`), Actor: "admin", Time: int64(n) - 100}
		b, _ := c.Encode()
		b = b[1:]
		for range r.IntN(3) {
			switch i := r.IntN(len(b)); r.IntN(3) {
			case 0:
				b[i] = alphabet[r.IntN(len(alphabet))]
			case 1:
				b = append(b[:i:i], b[i+1:]...)
			case 2:
				b = append(b[:i:i], append([]byte{alphabet[r.IntN(len(alphabet))]}, b[i:]...)...)
			}
		}
		if agree(t, b) {
			fast++
		}
	}
	if fast < 100_000 {
		t.Fatalf("only %d of the inputs took the fast path", fast)
	}
}

func FuzzDecodeRecordCommand(f *testing.F) {
	good, _ := (&Command{Op: OpCreate, Model: "Product", ID: "x", Fields: json.RawMessage(`{"name":"a"}`), Actor: "a", Time: 1}).Encode()
	f.Add(good[1:])
	f.Add([]byte(`{"op":"delete","id":"x","expected":2,"time":-1}`))
	f.Fuzz(func(t *testing.T, b []byte) { agree(t, b) })
}

func BenchmarkDecode(b *testing.B) {
	data, _ := (&Command{Op: OpCreate, Model: "Product", ID: "0192f1c2-7d5e-7c3a-8000-000000000001",
		Fields: json.RawMessage(`{"name":"p-123","price":19.99,"sku":"SKU-123","stock":5,"tags":["a","b"]}`), Actor: "admin", Time: 1764316800123456789}).Encode()
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			Decode(data)
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			decodeSlow(data[1:])
		}
	})
}
