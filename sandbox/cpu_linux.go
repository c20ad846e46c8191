package sandbox

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// onCPUWatch runs fn on a thread of its own and cancels ctx (through cancel)
// once that thread has used limit of CPU time. It returns the CPU time used.
// Linux gives every thread a CPU clock another thread can read; the module
// runs on the calling goroutine, locked to its thread for the call.
func onCPUWatch(ctx context.Context, limit time.Duration, cancel context.CancelCauseFunc, fn func() error) (time.Duration, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	clock := int32(^unix.Gettid()<<3 | 6) // MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED)
	start, err := cpuNow(clock)
	if err != nil {
		return 0, fmt.Errorf("sandbox: thread CPU clock: %w", err)
	}
	done := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
				now, err := cpuNow(clock)
				if err == nil && now-start > limit {
					cancel(&LimitError{Limit: ErrCPUTime, Detail: fmt.Sprintf("used more than %s of CPU", limit)})
					return
				}
			}
		}
	}()
	err = fn()
	end, _ := cpuNow(clock)
	close(done)
	<-watched
	return end - start, err
}

func cpuNow(clock int32) (time.Duration, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(clock, &ts); err != nil {
		return 0, err
	}
	return time.Duration(ts.Nano()), nil
}
