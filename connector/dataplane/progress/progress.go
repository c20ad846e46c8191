package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// IsTerminal reports whether f is a character device (a terminal), as
// os.File.Stat reports it; golang.org/x/term is not a dependency of tdsc.
func IsTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// Bar draws the progress of one transfer to w.
type Bar struct {
	mu       sync.Mutex
	w        io.Writer
	label    string
	terminal bool
	now      func() time.Time
	started  time.Time
	last     time.Time
	width    int
	// base is the number of bytes already present when the bar started (a
	// resumed download); the rate counts only bytes moved since.
	base int64
	done bool
}

// Option configures a Bar.
type Option func(*Bar)

// WithClock sets the clock (tests).
func WithClock(now func() time.Time) Option { return func(b *Bar) { b.now = now } }

// New returns a bar labelled label; terminal selects in-place redraws (use
// IsTerminal(os.Stderr)).
func New(w io.Writer, label string, terminal bool, opts ...Option) *Bar {
	b := &Bar{w: w, label: label, terminal: terminal, now: time.Now, width: 24}
	for _, o := range opts {
		o(b)
	}
	b.started = b.now()
	b.base = -1
	return b
}

// Update reports done of total bytes (total < 0: unknown); resumed bytes were
// present before this run. Terminal bars redraw at most 10 times a second,
// plain output prints at most every 5 seconds.
func (b *Bar) Update(done, total, resumed int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.base < 0 {
		b.base = resumed
	}
	now := b.now()
	every := 5 * time.Second
	if b.terminal {
		every = 100 * time.Millisecond
	}
	if !b.last.IsZero() && now.Sub(b.last) < every {
		return
	}
	b.last = now
	b.draw(done, total, now)
}

// Finish draws the final state and ends the line.
func (b *Bar) Finish(done, total int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return
	}
	b.done = true
	if b.base < 0 {
		b.base = 0
	}
	b.draw(done, total, b.now())
	if b.terminal {
		fmt.Fprintln(b.w)
	}
}

func (b *Bar) draw(done, total int64, now time.Time) {
	line := Line(b.label, done, total, done-b.base, now.Sub(b.started), b.width, b.terminal)
	if b.terminal {
		fmt.Fprintf(b.w, "\r%s\x1b[K", line)
	} else {
		fmt.Fprintf(b.w, "%s %s\n", now.UTC().Format(time.TimeOnly), line)
	}
}

// Line formats one progress line: label, a bar (when total is known and bar
// is set), done/total, rate over moved bytes in elapsed, and ETA.
func Line(label string, done, total, moved int64, elapsed time.Duration, width int, bar bool) string {
	var sb strings.Builder
	sb.WriteString(label)
	rate := 0.0
	if elapsed > 0 {
		rate = float64(moved) / elapsed.Seconds()
	}
	if total > 0 {
		frac := min(1, float64(done)/float64(total))
		if bar {
			filled := int(frac * float64(width))
			sb.WriteString(" [")
			sb.WriteString(strings.Repeat("=", filled))
			if filled < width {
				sb.WriteString(">")
				sb.WriteString(strings.Repeat(" ", width-filled-1))
			}
			sb.WriteString("]")
		}
		fmt.Fprintf(&sb, " %3.0f%% %s/%s", frac*100, Bytes(done), Bytes(total))
	} else {
		fmt.Fprintf(&sb, " %s", Bytes(done))
	}
	fmt.Fprintf(&sb, " %s/s", Bytes(int64(rate)))
	if total > 0 && rate > 0 && done < total {
		eta := time.Duration(float64(total-done) / rate * float64(time.Second))
		fmt.Fprintf(&sb, " ETA %s", eta.Round(time.Second))
	}
	return sb.String()
}

// Bytes formats n in binary units: 512 B, 1.5 KiB, 3.2 GiB.
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
