package lithair

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

func openForTest(t *testing.T) *Appliance {
	t.Helper()
	cfg := DefaultConfig()
	cfg.EventStore.Dir = filepath.Join(t.TempDir(), "data")
	cfg.Rules.Dir = filepath.Join("configs", "rules")
	cfg.Rules.Watch = false
	a, err := Open(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := a.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	return a
}

// TestHealthProbeFailsOnceRaftStops: the watchdog pings only while the
// probe passes; a node whose Raft has stopped must fail it.
func TestHealthProbeFailsOnceRaftStops(t *testing.T) {
	a := openForTest(t)
	p := a.NewHealthProbe()
	before := a.log.LastIndex()
	for range 3 {
		if err := p.Check(time.Second); err != nil {
			t.Fatalf("a ready, idle node is unhealthy: %v", err)
		}
	}
	if a.log.LastIndex() != before {
		t.Fatal("the probe wrote to the log")
	}
	if err := a.raft.Shutdown().Error(); err != nil {
		t.Fatal(err)
	}
	if err := p.Check(time.Second); err == nil {
		t.Fatal("the probe passes with Raft shut down")
	}
}

// TestHealthProbeSeesAStalledApplyLoop: a committed command that the
// state does not apply across a whole period fails the probe; movement,
// or no work at all, passes.
func TestHealthProbeSeesAStalledApplyLoop(t *testing.T) {
	p := &HealthProbe{}
	steps := []struct {
		applied, dispatched uint64
		waiting, healthy    bool
	}{
		{10, 12, true, true},  // moved since the start
		{10, 12, true, true},  // stuck for the first time: one period of grace
		{10, 12, true, false}, // still stuck with work waiting: stalled
		{11, 12, true, true},  // moved again
		{11, 12, false, true}, // nothing to apply (no-ops only): idle, healthy
		{11, 12, false, true},
	}
	for i, s := range steps {
		err := p.judgeApplyLocked(s.applied, s.dispatched, s.waiting)
		if (err == nil) != s.healthy {
			t.Fatalf("step %d %+v: %v", i, s, err)
		}
	}
	a := openForTest(t)
	last := a.raft.AppliedIndex()
	if a.commandWaiting(last, last) {
		t.Fatal("commandWaiting sees work where there is none")
	}
	found := false
	for i := last; i > 0 && !found; i-- {
		found = a.commandWaiting(i-1, last)
	}
	if !found {
		t.Fatal("commandWaiting misses the commands in the log")
	}
}
