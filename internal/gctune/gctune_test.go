package gctune

import (
	"math"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

// restore puts the collector back as the test found it.
func restore(t *testing.T) {
	gc, limit := debug.SetGCPercent(100), debug.SetMemoryLimit(math.MaxInt64)
	debug.SetGCPercent(gc)
	debug.SetMemoryLimit(limit)
	t.Cleanup(func() {
		debug.SetGCPercent(gc)
		debug.SetMemoryLimit(limit)
	})
}

// TestForHeavyHeap: with nothing in the environment the growth is 400 %
// and the limit the container's or the machine's share; GOGC and
// GOMEMLIMIT are left alone; AUTOMEMLIMIT=off sets no limit, a bad one is
// an error naming it.
func TestForHeavyHeap(t *testing.T) {
	machine, err := memlimit.FromSystem()
	if err != nil {
		t.Skipf("the machine's memory is not known here: %v", err)
	}
	want := uint64(float64(machine) * MachineShare)
	if c, err := memlimit.FromCgroup(); err == nil {
		want = uint64(float64(c) * ContainerShare)
	}

	t.Run("default", func(t *testing.T) {
		restore(t)
		t.Setenv("GOGC", "")
		t.Setenv("GOMEMLIMIT", "")
		limit, err := ForHeavyHeap()
		if err != nil {
			t.Fatal(err)
		}
		if uint64(limit) != want || debug.SetMemoryLimit(-1) != limit {
			t.Errorf("limit %d (runtime %d), want %d", limit, debug.SetMemoryLimit(-1), want)
		}
		if gc := debug.SetGCPercent(Growth); gc != Growth {
			t.Errorf("GC percent %d, want %d", gc, Growth)
		}
	})
	t.Run("GOGC and GOMEMLIMIT set", func(t *testing.T) {
		restore(t)
		t.Setenv("GOGC", "150")
		t.Setenv("GOMEMLIMIT", "1GiB")
		debug.SetGCPercent(150)
		debug.SetMemoryLimit(1 << 30)
		if _, err := ForHeavyHeap(); err != nil {
			t.Fatal(err)
		}
		if gc, limit := debug.SetGCPercent(150), debug.SetMemoryLimit(-1); gc != 150 || limit != 1<<30 {
			t.Errorf("GC percent %d, limit %d: the environment's 150 and 1 GiB not kept", gc, limit)
		}
	})
	t.Run("AUTOMEMLIMIT=off", func(t *testing.T) {
		restore(t)
		t.Setenv("GOMEMLIMIT", "")
		t.Setenv("AUTOMEMLIMIT", "off")
		debug.SetMemoryLimit(math.MaxInt64)
		if limit, err := ForHeavyHeap(); err != nil || limit != math.MaxInt64 {
			t.Errorf("limit %d, %v: want none", limit, err)
		}
	})
	t.Run("AUTOMEMLIMIT=0.25", func(t *testing.T) {
		restore(t)
		t.Setenv("GOMEMLIMIT", "")
		t.Setenv("AUTOMEMLIMIT", "0.25")
		limit, err := ForHeavyHeap()
		if err != nil {
			t.Fatal(err)
		}
		if w := uint64(float64(want) * 0.25); uint64(limit) < w-1 || uint64(limit) > w+1 {
			t.Errorf("limit %d, want about %d", limit, w)
		}
	})
	for _, bad := range []string{"lots", "2", "0"} {
		t.Run("AUTOMEMLIMIT="+bad, func(t *testing.T) {
			restore(t)
			t.Setenv("GOMEMLIMIT", "")
			t.Setenv("AUTOMEMLIMIT", bad)
			_, err := ForHeavyHeap()
			if err == nil || !strings.Contains(err.Error(), "AUTOMEMLIMIT") {
				t.Errorf("AUTOMEMLIMIT=%s: %v, want an error naming it", bad, err)
			}
		})
	}
}
