package embedded_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/embedded"
	"github.com/tdsc/tdsc/ledger/ledgertest"
	"github.com/tdsc/tdsc/ledger/verify"
)

const crashChildEnv = "TDSC_LEDGER_CRASH_CHILD"

// TestCrashChild is the child process of TestCrash: it appends batches to the
// ledger in the directory named by the environment until it is killed,
// printing "acked <treeSize>" after each receipt.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashChildEnv)
	if dir == "" {
		t.Skip("child of TestCrash only")
	}
	s, w := ledgertest.MustWorkload(t, 200_000, 200, 4)
	st, err := embedded.Open(context.Background(), dir, s.Genesis, embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	out := bufio.NewWriter(os.Stdout)
	var mu sync.Mutex
	ack := func(rc ledger.Receipt) {
		mu.Lock()
		fmt.Fprintf(out, "acked %d\n", rc.TreeSize)
		out.Flush()
		mu.Unlock()
	}
	for _, b := range w.Setup {
		rc, err := st.Append(context.Background(), b)
		if err != nil {
			t.Fatal(err)
		}
		ack(rc)
	}
	var wg sync.WaitGroup
	for _, stream := range w.Streams {
		wg.Add(1)
		go func(bs []*ledger.Batch) {
			defer wg.Done()
			for _, b := range bs {
				rc, err := st.Append(context.Background(), b)
				if err != nil {
					panic(err)
				}
				ack(rc)
			}
		}(stream)
	}
	wg.Wait()
}

// TestCrash kills a real child process with SIGKILL in the middle of
// appending, then checks the directory: it verifies whole, nothing the child
// was told is committed is missing, and the store reopens at the last
// committed checkpoint with a state that a full replay of its records
// matches. TDSC_LEDGER_CRASH_ROUNDS sets the rounds (default 2).
func TestCrash(t *testing.T) {
	if os.Getenv(crashChildEnv) != "" {
		t.Skip("in the child")
	}
	rounds := 2
	if n, err := strconv.Atoi(os.Getenv("TDSC_LEDGER_CRASH_ROUNDS")); err == nil {
		rounds = n
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for round := 0; round < rounds; round++ {
		dir := t.TempDir()
		cmd := exec.Command(exe, "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		want := 5 + rand.IntN(40)
		var acked uint64
		sc := bufio.NewScanner(stdout)
		for n := 0; n < want && sc.Scan(); n++ {
			v, ok := strings.CutPrefix(sc.Text(), "acked ")
			if !ok {
				continue
			}
			size, _ := strconv.ParseUint(v, 10, 64)
			acked = max(acked, size)
		}
		time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		// Acks printed before the kill landed still count: read them all.
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "acked "); ok {
				size, _ := strconv.ParseUint(v, 10, 64)
				acked = max(acked, size)
			}
		}
		cmd.Wait()
		if acked == 0 {
			t.Fatalf("round %d: child acknowledged nothing", round)
		}

		raw, err := embedded.OpenRaw(dir)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := verify.Ledger(context.Background(), raw, raw.VerifierKey())
		g, _ := raw.Genesis(context.Background())
		raw.Close()
		if err != nil {
			t.Fatalf("round %d: after SIGKILL the ledger does not verify: %v", round, err)
		}
		if rep.Records < acked {
			t.Fatalf("round %d: %d records acknowledged, only %d on disk", round, acked, rep.Records)
		}
		t.Logf("round %d: killed after %d acknowledged records; %d records whole on disk", round, acked, rep.Records)

		st, err := embedded.Open(context.Background(), dir, g, embedded.Options{})
		if err != nil {
			t.Fatalf("round %d: reopen: %v", round, err)
		}
		if cp, err := st.Checkpoint(context.Background()); err != nil || !strings.Contains(string(cp), "\n"+strconv.FormatUint(rep.Records, 10)+"\n") {
			t.Fatalf("round %d: checkpoint after reopen: %q %v", round, cp, err)
		}
		if err := embedded.StateDiff(context.Background(), st); err != nil {
			t.Fatalf("round %d: after SIGKILL the state differs from a replay of the records:\n%v", round, err)
		}
		st.Close(context.Background())
	}
}
