package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestLine(t *testing.T) {
	tests := []struct {
		name               string
		done, total, moved int64
		elapsed            time.Duration
		bar                bool
		want               string
	}{
		{"half with bar", 512 << 20, 1 << 30, 512 << 20, 4 * time.Second, true,
			"get [============>           ]  50% 512.0 MiB/1.0 GiB 128.0 MiB/s ETA 4s"},
		{"plain", 3 << 20, 4 << 20, 1 << 20, time.Second, false, "get  75% 3.0 MiB/4.0 MiB 1.0 MiB/s ETA 1s"},
		{"unknown total", 1500, -1, 1500, time.Second, true, "get 1.5 KiB 1.5 KiB/s"},
		{"done", 10, 10, 10, time.Second, true, "get [========================] 100% 10 B/10 B 10 B/s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Line("get", tt.done, tt.total, tt.moved, tt.elapsed, 24, tt.bar); got != tt.want {
				t.Errorf("Line =\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time { return c.t }

func TestBarThrottlesPlainOutput(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	var buf bytes.Buffer
	b := New(&buf, "t1", false, WithClock(clk.Now))
	for i := int64(1); i <= 100; i++ {
		clk.t = clk.t.Add(100 * time.Millisecond)
		b.Update(i<<20, 100<<20, 0)
	}
	b.Finish(100<<20, 100<<20)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	// 10 s of updates every 100 ms: the first, one per 5 s, and the final line.
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3:\n%s", len(lines), buf.String())
	}
	if !strings.Contains(lines[2], "100% 100.0 MiB/100.0 MiB") || strings.Contains(buf.String(), "\r") {
		t.Errorf("plain output:\n%s", buf.String())
	}
}

func TestBarRedrawsInPlaceOnTerminal(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	var buf bytes.Buffer
	b := New(&buf, "t1", true, WithClock(clk.Now))
	clk.t = clk.t.Add(time.Second)
	b.Update(1<<20, 2<<20, 0)
	b.Finish(2<<20, 2<<20)
	if got := buf.String(); strings.Count(got, "\r") != 2 || !strings.HasSuffix(got, "\n") || !strings.Contains(got, "ETA 1s") {
		t.Errorf("terminal output %q", got)
	}
}
