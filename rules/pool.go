package rules

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// pool hands out VMs, creating them on demand up to size. A VM is used by one
// goroutine at a time. A VM whose call timed out is thrown away rather than
// reused: the script was interrupted at an arbitrary instruction and may have
// left its upvalues half-updated.
type pool struct {
	set    *Set
	idle   chan *vm
	tokens chan struct{} // one per live VM, so at most size exist

	mu     sync.Mutex
	closed bool
}

func newPool(s *Set, size int) *pool {
	return &pool{set: s, idle: make(chan *vm, size), tokens: make(chan struct{}, size)}
}

// get returns an idle VM, a new one if fewer than size exist, or waits.
func (p *pool) get(ctx context.Context) (*vm, error) {
	select {
	case v := <-p.idle:
		return v, nil
	default:
	}
	select {
	case v := <-p.idle:
		return v, nil
	case p.tokens <- struct{}{}:
		p.mu.Lock()
		closed := p.closed
		p.mu.Unlock()
		if closed {
			<-p.tokens
			return nil, ErrClosed
		}
		v, err := p.create()
		if err != nil {
			<-p.tokens
			return nil, err
		}
		return v, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// create instantiates the set's files in a fresh VM. The rules were checked
// when the set loaded and run deterministically, so the same declarations
// and the same function slots come out.
func (p *pool) create() (*vm, error) {
	v, errs := newVM(p.set, true)
	if len(errs) > 0 {
		v.close()
		return nil, fmt.Errorf("rules: instantiating a VM: %w", errs)
	}
	b := newBuilder(p.set)
	b.build(v.defs)
	if len(b.errs.errs) > 0 || len(b.funcs) != p.set.nfuncs {
		v.close()
		return nil, fmt.Errorf("rules: instantiating a VM gave different declarations")
	}
	v.funcs = b.funcs
	return v, nil
}

// put returns v to the pool. fresh marks the first VM, which took no token.
func (p *pool) put(v *vm, fresh bool) {
	if fresh {
		p.tokens <- struct{}{}
		p.set.nfuncs = len(v.funcs)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		v.close()
		<-p.tokens
		return
	}
	p.idle <- v
}

// discard closes v and frees its place.
func (p *pool) discard(v *vm) {
	v.close()
	<-p.tokens
}

func (p *pool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	for {
		select {
		case v := <-p.idle:
			v.close()
			<-p.tokens
		default:
			return
		}
	}
}

// call runs function slot on a pooled VM within Options.CallTimeout (and
// parent). build makes the arguments on the VM; read receives the
// results while the VM is still held (Lua values must not outlive the call).
// what names the function for errors; it is only called on failure.
func (s *Set) call(parent context.Context, slot int, what func() string, nret int,
	build func(v *vm) []lua.LValue, read func(rets []lua.LValue) error) error {
	if parent == nil {
		parent = context.Background()
	}
	v, err := s.pool.get(parent)
	if err != nil {
		return err
	}
	var ctx context.Context
	var cancel func()
	if parent.Done() == nil {
		ctx, cancel = v.dl.arm(s.opts.CallTimeout), v.dl.disarm
	} else {
		ctx, cancel = context.WithTimeout(parent, s.opts.CallTimeout)
	}
	var start time.Time
	if s.opts.Observe != nil {
		start = time.Now()
	}
	rets, err := v.call(ctx, slot, build(v), nret)
	if s.opts.Observe != nil {
		s.opts.Observe(callKind(what()), time.Since(start), err != nil && ctx.Err() != nil)
	}
	// Disarm before the VM goes back to the pool: its deadline is reused by
	// the next caller. ctx.Err() stays readable until that next arming.
	cancel()
	if err != nil {
		err = callError(what(), s.opts.CallTimeout, ctx, err)
		if errors.Is(err, ErrTimeout) || errors.Is(err, context.Canceled) {
			s.pool.discard(v)
		} else {
			s.pool.put(v, false)
		}
		return err
	}
	if read != nil {
		err = read(rets)
	}
	s.pool.put(v, false)
	return err
}

// callKind names the kind of a call from its description, for Observe.
func callKind(what string) string {
	switch {
	case strings.HasPrefix(what, "permissions."):
		return "permission"
	case strings.HasPrefix(what, "validate "):
		return "validate"
	case strings.HasPrefix(what, "default "):
		return "default"
	}
	return "projection"
}
