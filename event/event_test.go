package event

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func batchOf(n int) *Command {
	c := &Command{Op: OpBatch, Actor: "loader", Time: 5}
	for i := 0; i < n; i++ {
		c.Batch = append(c.Batch, &Command{Op: OpCreate, Model: "Product", ID: fmt.Sprintf("p%d", i),
			Fields: json.RawMessage(`{"name":"a"}`), Actor: "loader", Time: 5})
	}
	return c
}

func TestBatchRoundTrip(t *testing.T) {
	c := batchOf(2)
	c.Batch = append(c.Batch, &Command{Op: OpUpdate, Model: "Order", ID: "o1", Expected: 3, Fields: json.RawMessage(`{"total":1.50}`), Actor: "loader", Time: 5},
		&Command{Op: OpDelete, Model: "Product", ID: "p9", Expected: 2, Actor: "loader", Time: 5})
	b, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := got.Encode()
	if string(again) != string(b) {
		t.Fatalf("round trip changed the command:\n%s\n%s", b[1:], again[1:])
	}
	if len(got.Batch) != 4 || got.Batch[2].Expected != 3 || string(got.Batch[2].Fields) != `{"total":1.50}` {
		t.Fatalf("decoded %+v", got.Batch)
	}
	if op := got.For("Order", "o1"); op != got.Batch[2] {
		t.Fatalf("For picked %+v", op)
	}
	if got.For("Order", "p1") != nil {
		t.Fatal("For found an operation on a record the batch does not touch")
	}
	if len(got.Ops()) != 4 {
		t.Fatal("Ops of a batch is its operations")
	}
	single := &Command{Op: OpUpdate, Model: "Product", ID: "p1"}
	if single.For("Product", "p1") != single || len(single.Ops()) != 1 || single.Ops()[0] != single {
		t.Fatal("a single command is its own operation")
	}
}

// Log entries come from anywhere a bit can flip: a bad batch is refused
// at decoding, and the number of operations read is bounded.
func TestBatchDecodingRefusals(t *testing.T) {
	encode := func(c *Command) []byte {
		b, err := c.Encode()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if _, err := Decode(encode(batchOf(MaxBatch))); err != nil {
		t.Fatalf("a full batch: %v", err)
	}
	nested := batchOf(1)
	nested.Batch[0].Batch = Batch{{Op: OpCreate}}
	for name, b := range map[string][]byte{
		"one operation too many":            encode(batchOf(MaxBatch + 1)),
		"no operations":                     encode(batchOf(0)),
		"operations of a create":            append([]byte{formatV1}, `{"op":"create","batch":[{"op":"create"}]}`...),
		"operations that are not a list":    append([]byte{formatV1}, `{"op":"batch","batch":{"op":"create"}}`...),
		"a batch inside a batch":            encode(nested),
		"a list cut short":                  append([]byte{formatV1}, `{"op":"batch","batch":[{"op":"create"},`...),
		"an operation of the wrong type":    append([]byte{formatV1}, `{"op":"batch","batch":[7]}`...),
		"a deep nest of batches in batches": append([]byte{formatV1}, strings.Repeat(`{"op":"batch","batch":[`, 5000)+strings.Repeat(`]}`, 5000)...),
	} {
		if c, err := Decode(b); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: decoded %+v, %v", name, c, err)
		}
	}
	// A null operation decodes as an empty one, which the state refuses.
	c, err := Decode(append([]byte{formatV1}, `{"op":"batch","batch":[null]}`...))
	if err != nil || len(c.Batch) != 1 || c.Batch[0] == nil || c.Batch[0].Op != "" {
		t.Fatalf("got %+v, %v", c, err)
	}
}

func TestBatchRefusalUnwrapsToTheOperationsRefusal(t *testing.T) {
	var err error = &BatchRefusal{Index: 2, Refusal: &Refusal{Code: CodeConflict, Field: "sku", Message: "taken"}}
	var ref *Refusal
	if !errors.As(err, &ref) || ref.Code != CodeConflict {
		t.Fatal("errors.As does not find the operation's refusal")
	}
	if err.Error() != "batch operation 2: conflict: sku: taken" {
		t.Fatal(err.Error())
	}
}
