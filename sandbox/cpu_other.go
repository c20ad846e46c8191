//go:build !linux

package sandbox

import (
	"context"
	"fmt"
	"time"
)

// onCPUWatch, where no per-thread CPU clock is at hand, limits and reports
// the run's wall time instead: never less strict than the CPU time.
func onCPUWatch(ctx context.Context, limit time.Duration, cancel context.CancelCauseFunc, fn func() error) (time.Duration, error) {
	start := time.Now()
	t := time.AfterFunc(limit, func() {
		cancel(&LimitError{Limit: ErrCPUTime, Detail: fmt.Sprintf("ran longer than %s", limit)})
	})
	err := fn()
	t.Stop()
	return time.Since(start), err
}
