package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// The load generator shares the machine with the server, so every
// measurement says how much CPU each side used: the client (this process,
// /proc/self/stat), the server processes (/proc/PID/stat) and the machine
// as a whole (/proc/stat), each in cores busy on average over the measured
// window. "irq" is the kernel's interrupt and softirq time, which belongs to
// no process: loopback TCP is largely softirq work, so most of it is the
// load itself. "other" is what is left: other programs, and kernel threads
// such as the file system journal (jbd2, kworkers) working for anyone's
// fsyncs, the servers' included.

// clockTick is USER_HZ, the unit of /proc times; 100 on every Linux
// architecture Go supports.
const clockTick = 100

// CPUSample is the CPU time used so far, read at one instant.
type CPUSample struct {
	at        time.Time
	self      float64 // seconds
	servers   float64 // seconds, summed over the server processes
	busy, all float64 // machine-wide, seconds summed over CPUs
	irq       float64 // machine-wide irq + softirq seconds
}

// CPUShare is CPU used over a window, in cores (1.0 = one core busy all the
// time).
type CPUShare struct {
	Client, Server, IRQ, Machine, Cores float64
}

// Other returns the cores used by neither the client, nor the servers, nor
// interrupts.
func (s CPUShare) Other() float64 { return max(s.Machine-s.Client-s.Server-s.IRQ, 0) }

func (s CPUShare) String() string {
	return fmt.Sprintf("client %.2f, server %.2f, irq %.2f, other %.2f of %g cores", s.Client, s.Server, s.IRQ, s.Other(), s.Cores)
}

// sampleCPU reads the CPU time of this process, of the given server
// processes and of the machine. A process that is gone counts as zero.
func sampleCPU(pids []int) CPUSample {
	s := CPUSample{at: time.Now()}
	s.self, _ = procCPU("self")
	for _, pid := range pids {
		v, _ := procCPU(strconv.Itoa(pid))
		s.servers += v
	}
	s.busy, s.all, s.irq = machineCPU()
	return s
}

// Share returns the CPU used between s and a later sample e.
func (s CPUSample) Share(e CPUSample, cores int) CPUShare {
	wall := e.at.Sub(s.at).Seconds()
	if wall <= 0 {
		return CPUShare{Cores: float64(cores)}
	}
	sh := CPUShare{
		Client: (e.self - s.self) / wall,
		Server: (e.servers - s.servers) / wall,
		Cores:  float64(cores),
	}
	if all := e.all - s.all; all > 0 {
		sh.Machine = (e.busy - s.busy) / all * float64(cores)
		sh.IRQ = (e.irq - s.irq) / all * float64(cores)
	}
	return sh
}

// procCPU returns utime+stime of /proc/WHO/stat in seconds, all threads.
func procCPU(who string) (float64, error) {
	b, err := os.ReadFile("/proc/" + who + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces and parentheses: the
	// fields that follow start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%s/stat: no ')'", who)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%s/stat: %d fields", who, len(f))
	}
	u, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%s/stat: bad utime/stime %q %q", who, f[11], f[12])
	}
	return float64(u+st) / clockTick, nil
}

// machineCPU returns the busy, total and interrupt CPU time of the
// machine, summed over its CPUs, from the first line of /proc/stat (idle and
// iowait count as not busy).
func machineCPU() (busy, all, irq float64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, 0
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 8 || f[0] != "cpu" {
		return 0, 0, 0
	}
	var total, idle, irqs uint64
	for i, v := range f[1:] {
		n, _ := strconv.ParseUint(v, 10, 64)
		if i >= 8 { // guest and guest_nice are already inside user and nice
			break
		}
		total += n
		switch i {
		case 3, 4: // idle, iowait
			idle += n
		case 5, 6: // irq, softirq
			irqs += n
		}
	}
	return float64(total-idle) / clockTick, float64(total) / clockTick, float64(irqs) / clockTick
}
