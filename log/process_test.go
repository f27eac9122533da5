package log

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// childDirEnv switches the test binary into the child role of
// TestKillDuringAppends: append until killed, print every acknowledged index.
const childDirEnv = "LITHAIR_LOG_CHILD_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(childDirEnv); dir != "" {
		if err := runChild(dir); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(2)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func childPayload(i uint64) []byte {
	return crashPayload(i, 0, int(i*31%2000))
}

func runChild(dir string) error {
	l, err := Open(dir, Options{SegmentSize: 256 << 10})
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	next := l.LastIndex() + 1
	for {
		n := uint64(1 + rng.Intn(16))
		es := make([]Entry, n)
		for i := range es {
			es[i] = Entry{Index: next + uint64(i), Data: childPayload(next + uint64(i))}
		}
		if err := l.Append(es); err != nil {
			return err
		}
		next += n
		// Unbuffered: the parent must see an ack only after Append returned,
		// and must see every one the child printed.
		if _, err := fmt.Fprintf(os.Stdout, "ack %d\n", next-1); err != nil {
			return err
		}
	}
}

// TestKillDuringAppends re-executes the test binary as a child that appends
// and acknowledges on stdout, kills it with SIGKILL at a random moment, and
// checks that every acknowledged entry is there after reopening.
// LITHAIR_CRASH_CYCLES sets the number of kills (default 5).
func TestKillDuringAppends(t *testing.T) {
	cycles := 5
	if s := os.Getenv("LITHAIR_CRASH_CYCLES"); s != "" {
		n, err := strconv.Atoi(s)
		check.NoError(t, err)
		cycles = n
	}
	dir := t.TempDir()
	rng := newRand(time.Now().UnixNano())
	var acked uint64
	for c := range cycles {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childDirEnv+"="+dir)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		check.NoError(t, err)
		check.NoError(t, cmd.Start())
		lines := make(chan uint64, 1024)
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				if v, ok := strings.CutPrefix(sc.Text(), "ack "); ok {
					n, _ := strconv.ParseUint(v, 10, 64)
					lines <- n
				}
			}
		}()
		time.Sleep(time.Duration(20+rng.Intn(300)) * time.Millisecond)
		check.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		before := acked
		for n := range lines {
			acked = max(acked, n)
		}
		err = cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Fatalf("cycle %d: child did not die by SIGKILL: %v\n%s", c, err, stderr.String())
		}
		l, err := Open(dir, Options{SegmentSize: 256 << 10})
		check.NoError(t, err, "cycle %d: open after SIGKILL", c)
		atLeast(t, l.LastIndex(), acked, "cycle %d: acknowledged entries lost", c)
		if l.LastIndex() > 0 {
			// (A child killed before its first append leaves an empty log.)
			check.Equal(t, uint64(1), l.FirstIndex())
		}
		for i := uint64(1); i <= l.LastIndex(); i++ {
			got, err := l.Read(i)
			check.NoError(t, err, "cycle %d: read %d", c, i)
			check.Equal(t, childPayload(i), got, "cycle %d: entry %d", c, i)
		}
		check.NoError(t, l.Close())
		_, err = Verify(dir, nil)
		check.NoError(t, err)
		t.Logf("cycle %d: %d acknowledged (+%d), log ends at %d", c, acked, acked-before, l.LastIndex())
	}
	if acked == 0 {
		t.Fatal("the child never acknowledged anything")
	}
}
