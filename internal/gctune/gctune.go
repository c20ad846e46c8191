// Package gctune sets the garbage collector of a process that trades memory
// for fewer collections: an audit replaying a ledger's rules into memory, a
// chaincode service whose every Append allocates and drops its batches.
//
// Such a process collects at 400 % heap growth instead of Go's 100 %, so
// its heap may reach five times what is live. Alone that headroom has no
// bound: on a small machine, or in a container with a memory limit, a large
// ledger's audit would be killed for memory it only held as garbage. So the
// heap is also held softly (runtime/debug.SetMemoryLimit) under 90 % of the
// container's memory limit (cgroup v1 or v2) or, with none, half of the
// machine's memory; near the limit the collector runs more often and gives
// the headroom up. A limit below what is live slows the process, it never
// fails it.
//
// The environment overrides both: GOGC sets the growth, GOMEMLIMIT the
// limit, AUTOMEMLIMIT=off sets none and AUTOMEMLIMIT=R scales the limits
// above by R (github.com/KimMachineGun/automemlimit).
package gctune

import (
	"fmt"
	"os"
	"runtime/debug"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

// Growth is the collector's heap growth percent unless GOGC is set.
const Growth = 400

// Shares of the memory available that the heap is held under.
const (
	ContainerShare = 0.9
	MachineShare   = 0.5
)

// ForHeavyHeap sets the collector as the package says. It returns the memory
// limit set (math.MaxInt64 for none) or an error naming the environment
// variable that could not be read.
func ForHeavyHeap() (int64, error) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(Growth)
	}
	limit, err := memlimit.Set(memlimit.WithRatio(1), memlimit.WithProvider(memlimit.ApplyFallback(
		memlimit.ApplyRatio(memlimit.FromCgroup, ContainerShare),
		memlimit.ApplyRatio(memlimit.FromSystem, MachineShare))))
	if err != nil {
		return limit, fmt.Errorf("%w (AUTOMEMLIMIT takes a ratio in (0, 1] or off)", err)
	}
	return limit, nil
}
