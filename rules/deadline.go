package rules

import (
	"context"
	"sync"
	"time"
)

// deadline is a reusable context.Context with a deadline, one per VM.
// context.WithTimeout allocates a context, a timer and a channel for every
// call, about a tenth of a validate's cost; calls without a cancellable
// parent use this instead. It is armed before a call and disarmed after, on
// the goroutine that owns the VM; only the timer callback runs elsewhere,
// and it takes mu.
type deadline struct {
	mu    sync.Mutex
	done  chan struct{} // replaced (under mu) only after it was closed
	err   error
	at    time.Time
	gen   uint64 // which arming the timer belongs to
	timer *time.Timer
}

func newDeadline() *deadline {
	d := &deadline{done: make(chan struct{})}
	d.timer = time.AfterFunc(time.Hour, d.fire)
	d.timer.Stop()
	return d
}

// arm starts a call's budget and returns the context to give the VM.
func (d *deadline) arm(budget time.Duration) context.Context {
	d.mu.Lock()
	if d.err != nil {
		d.done = make(chan struct{})
		d.err = nil
	}
	d.gen++
	d.at = time.Now().Add(budget)
	d.mu.Unlock()
	d.timer.Reset(budget)
	return d
}

// disarm ends the call. A timer callback already on its way then finds gen
// even (disarmed) or, if the next call armed meanwhile, a deadline still in
// the future, and does nothing.
func (d *deadline) disarm() {
	d.timer.Stop()
	d.mu.Lock()
	d.gen++
	d.mu.Unlock()
}

func (d *deadline) fire() {
	d.mu.Lock()
	defer d.mu.Unlock()
	// gen is odd while armed (arm and disarm each add one).
	if d.err == nil && d.gen%2 == 1 && !time.Now().Before(d.at) {
		d.err = context.DeadlineExceeded
		close(d.done)
	}
}

func (d *deadline) stop() { d.timer.Stop() }

// Deadline implements context.Context.
func (d *deadline) Deadline() (time.Time, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.at, true
}

// Done implements context.Context. The VM calls it before every
// instruction; done only changes in arm, on the same goroutine.
func (d *deadline) Done() <-chan struct{} { return d.done }

// Err implements context.Context.
func (d *deadline) Err() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.err
}

// Value implements context.Context.
func (d *deadline) Value(any) any { return nil }
