package raftlog_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/lithair/lithair/event"
	"github.com/lithair/lithair/index"
	"github.com/lithair/lithair/raftlog"
	"github.com/lithair/lithair/rules"
)

// salesRules is an audited model and a projection over it.
var salesRules = []event.RuleFile{{Name: "sales.lua", Source: []byte(`
model "Sale" {
  fields = {
    ref = { type = "string", unique = true },
    total = { type = "number" },
  },
  lifecycle = { audited = true },
}
projection "Revenue" {
  from = "Sale",
  on = { "created", "updated", "deleted" },
  key = function(s) return "all" end,
  aggregates = { revenue = sum "total", sales = count() },
}
`)}}

func sale(op event.Op, id string, expected uint64, fields string) *event.Command {
	c := &event.Command{Op: op, Model: "Sale", ID: id, Expected: expected, Actor: "loader", Time: fixedTime}
	if fields != "" {
		c.Fields = json.RawMessage(fields)
	}
	return c
}

func batchOf(ops ...*event.Command) *event.Command {
	return &event.Command{Op: event.OpBatch, Actor: "loader", Time: fixedTime, Batch: ops}
}

// The machine applies a batch as one entry: OnApply hears of each change
// in order, at the batch's index; the projections are fed every change;
// a refused batch is heard of by nobody. A projection rebuilt from the
// log reads each record's operation out of the batch.
func TestMachineAppliesABatchAndRebuildsFromIt(t *testing.T) {
	m := raftlog.NewMachine(index.New(), rules.Options{})
	log := map[uint64][]byte{}
	m.SetCommandSource(func(idx uint64) (*event.Command, error) {
		if b, ok := log[idx]; ok {
			return event.Decode(b)
		}
		return nil, errors.New("no such entry")
	})
	var heard []string
	m.OnApply = func(idx uint64, c *event.Command, a index.Applied) {
		heard = append(heard, fmt.Sprintf("%d %s %s", idx, a.Kind, c.ID))
	}
	apply := func(idx uint64, c *event.Command) *raftlog.Result {
		b, err := c.Encode()
		if err != nil {
			t.Fatal(err)
		}
		log[idx] = b
		return m.ApplyEntry(idx, b)
	}
	revenue := func() string {
		rows, ok := m.ProjectionRows("Revenue")
		if !ok {
			t.Fatal("no Revenue projection")
		}
		return fmt.Sprint(rows["all"])
	}

	apply(1, &event.Command{Op: event.OpRules, Rules: salesRules, Time: fixedTime})
	apply(2, sale(event.OpCreate, "s0", 0, `{"ref":"r0","total":5}`))
	if res := apply(3, batchOf(
		sale(event.OpCreate, "s1", 0, `{"ref":"r1","total":10}`),
		sale(event.OpUpdate, "s0", 1, `{"ref":"r0","total":7}`),
		sale(event.OpCreate, "s2", 0, `{"ref":"r2","total":20}`),
	)); res.Err != nil {
		t.Fatal(res.Err)
	}
	want := []string{"2 created s0", "3 created s1", "3 updated s0", "3 created s2"}
	if fmt.Sprint(heard) != fmt.Sprint(want) {
		t.Fatalf("OnApply heard %v, want %v", heard, want)
	}
	fed := revenue()

	res := apply(4, batchOf(
		sale(event.OpDelete, "s1", 0, ""),
		sale(event.OpCreate, "s3", 0, `{"ref":"r2","total":1}`),
	))
	var br *event.BatchRefusal
	if !errors.As(res.Err, &br) || br.Index != 1 || br.Refusal.Code != event.CodeConflict {
		t.Fatalf("a batch with a taken unique value: %v", res.Err)
	}
	if len(heard) != 4 || revenue() != fed {
		t.Fatalf("a refused batch was heard of: %v, %s (was %s)", heard, revenue(), fed)
	}
	if _, ok := m.State().Get("Sale", "s1"); !ok || m.State().AppliedIndex() != 4 {
		t.Fatal("a refused batch changed the state")
	}

	// A new definition of the projection is rebuilt from the log.
	rebuilt := []event.RuleFile{{Name: "sales.lua", Source: append([]byte("-- v2\n"), salesRules[0].Source...)}}
	apply(5, &event.Command{Op: event.OpRules, Rules: rebuilt, Time: fixedTime})
	if got := revenue(); got != fed {
		t.Fatalf("rebuilt from the log: %s, fed: %s", got, fed)
	}
	if fed != "map[revenue:37 sales:3]" {
		t.Fatalf("fed: %s", fed)
	}
}
