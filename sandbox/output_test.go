package sandbox_test

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tdsc/tdsc/sandbox"
)

func TestInspectAndCheckOutput(t *testing.T) {
	for _, tc := range []struct {
		name  string
		out   string
		shape sandbox.Shape
		rule  string // CheckOutput's refusal under {MinGroup: 10, MaxRows: 3}, "" for none
	}{
		{"aggregate", "g,count,mean\nA,12,1.5\nB,10,2\n", sandbox.Shape{Bytes: 29, Rows: 2, Aggregate: true, SmallestGroup: 10}, ""},
		{"small group", "g,count\nA,12\nB,3\n", sandbox.Shape{Bytes: 17, Rows: 2, Aggregate: true, SmallestGroup: 3}, "output.aggregate"},
		{"raw rows", "cell,residents\nX,1\nY,2\n", sandbox.Shape{Bytes: 23, Rows: 2}, "output.aggregate"},
		{"count not a number", "g,count\nA,many\n", sandbox.Shape{Bytes: 15, Rows: 1}, "output.aggregate"},
		{"not csv", "g,count\n\"A,12\n", sandbox.Shape{Bytes: 14, Rows: 1}, "output.aggregate"},
		{"too many rows", "g,count\nA,10\nB,10\nC,10\nD,10\n", sandbox.Shape{Bytes: 28, Rows: 4, Aggregate: true, SmallestGroup: 10}, "output.maxRows"},
		{"empty", "", sandbox.Shape{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if d := cmp.Diff(tc.shape, sandbox.Inspect([]byte(tc.out))); d != "" {
				t.Errorf("shape (-want +got):\n%s", d)
			}
			_, err := sandbox.CheckOutput([]byte(tc.out), sandbox.OutputRule{MinGroup: 10, MaxRows: 3})
			var oe *sandbox.OutputError
			switch {
			case tc.rule == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.rule != "" && (!errors.As(err, &oe) || oe.Rule != tc.rule || !errors.Is(err, sandbox.ErrOutput)):
				t.Errorf("err = %v, want rule %s", err, tc.rule)
			}
		})
	}
}

// FuzzInspect: a program's output is untrusted; reading it never panics and
// CheckOutput agrees with Inspect on what an aggregate is.
func FuzzInspect(f *testing.F) {
	f.Add([]byte("g,count\nA,12\n"))
	f.Add([]byte("cell,residents\nX,1\n"))
	f.Add([]byte("\"a\"\"b\",count\n\"x\ny\",3\n"))
	f.Fuzz(func(t *testing.T, out []byte) {
		s := sandbox.Inspect(out)
		_, err := sandbox.CheckOutput(out, sandbox.OutputRule{MinGroup: 1})
		if err == nil && len(out) > 0 && !s.Aggregate && s.Rows > 0 {
			t.Fatalf("CheckOutput let a non-aggregate pass: %q", out)
		}
	})
}
