package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Progress prints one line on stderr while a measurement runs: what runs,
// at how many connections, how far it is, and the request rate of the last
// half second. On a terminal the line is rewritten in place; otherwise a
// line is printed every 2 seconds.
type Progress struct {
	w        io.Writer
	terminal bool
	prefix   string // "run 2/3 " when there are several runs

	mu     sync.Mutex
	label  string
	conns  int
	dur    time.Duration
	start  time.Time
	done   atomic.Uint64
	errs   atomic.Uint64
	stop   chan struct{}
	exited chan struct{}
}

// NewProgress writes to stderr.
func NewProgress() *Progress {
	p := &Progress{w: os.Stderr}
	if st, err := os.Stderr.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
		p.terminal = true
	}
	return p
}

// Note prints a line of its own (a phase starting, a server starting).
func (p *Progress) Note(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.terminal {
		fmt.Fprint(p.w, "\r\033[K")
	}
	fmt.Fprintf(p.w, "%s%s\n", p.prefix, fmt.Sprintf(format, args...))
}

// Begin starts the line for the measured part of one measurement.
func (p *Progress) Begin(label string, conns int, d time.Duration) {
	p.mu.Lock()
	p.label, p.conns, p.dur, p.start = label, conns, d, time.Now()
	p.done.Store(0)
	p.errs.Store(0)
	p.stop, p.exited = make(chan struct{}), make(chan struct{})
	p.mu.Unlock()
	go p.loop()
}

// Add counts completed requests.
func (p *Progress) Add(n uint64) { p.done.Add(n) }

// AddError counts failed requests.
func (p *Progress) AddError() { p.errs.Add(1) }

// End stops the line.
func (p *Progress) End() {
	close(p.stop)
	<-p.exited
	if p.terminal {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

func (p *Progress) loop() {
	defer close(p.exited)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	last, lastAt := uint64(0), time.Now()
	printed := time.Now()
	for {
		select {
		case <-p.stop:
			return
		case now := <-tick.C:
			n := p.done.Load()
			rps := float64(n-last) / now.Sub(lastAt).Seconds()
			last, lastAt = n, now
			if !p.terminal && now.Sub(printed) < 2*time.Second {
				continue
			}
			printed = now
			p.mu.Lock()
			line := fmt.Sprintf("%s%-28s conns %3d  %4.1fs/%.0fs  %9.0f req/s  errors %d",
				p.prefix, p.label, p.conns, now.Sub(p.start).Seconds(), p.dur.Seconds(), rps, p.errs.Load())
			if p.terminal {
				fmt.Fprint(p.w, "\r\033[K"+line)
			} else {
				fmt.Fprintln(p.w, line)
			}
			p.mu.Unlock()
		}
	}
}
