package rules

import (
	"context"
	"testing"
	"time"
)

// TestDeadlineReuse checks the reusable deadline: a timer left over from a
// finished call must not end the next one, and an expired call reports
// DeadlineExceeded until the next arming.
func TestDeadlineReuse(t *testing.T) {
	d := newDeadline()
	defer d.stop()
	d.arm(5 * time.Millisecond)
	d.disarm()
	time.Sleep(20 * time.Millisecond)
	ctx := d.arm(time.Second)
	select {
	case <-ctx.Done():
		t.Fatal("a finished call's timer ended the next call")
	case <-time.After(20 * time.Millisecond):
	}
	if ctx.Err() != nil {
		t.Fatalf("Err = %v", ctx.Err())
	}
	d.disarm()
	ctx = d.arm(5 * time.Millisecond)
	select {
	case <-ctx.Done():
	case <-time.After(2 * time.Second):
		t.Fatal("deadline never fired")
	}
	d.disarm()
	if ctx.Err() != context.DeadlineExceeded {
		t.Fatalf("Err = %v", ctx.Err())
	}
	ctx = d.arm(time.Second)
	if ctx.Err() != nil {
		t.Fatal("re-armed deadline still expired")
	}
	select {
	case <-ctx.Done():
		t.Fatal("re-armed deadline is done")
	default:
	}
	d.disarm()
}
