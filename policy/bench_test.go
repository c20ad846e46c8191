package policy

import (
	"context"
	"testing"
)

// The budget: at most 2 µs per decision for a five-constraint
// policy, compiled. testdata/example.json has five constraints and two duties.

func BenchmarkEvaluate(b *testing.B) {
	c := mustCompile(b, string(readExample(b)))
	req, ctx := okRequest(), context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if d := Evaluate(ctx, c, req); !d.Allowed {
			b.Fatal(d.Reason)
		}
	}
}

func BenchmarkEvaluateInto(b *testing.B) {
	c := mustCompile(b, string(readExample(b)))
	req, ctx := okRequest(), context.Background()
	var d Decision
	b.ReportAllocs()
	for b.Loop() {
		if c.EvaluateInto(ctx, req, &d); !d.Allowed {
			b.Fatal(d.Reason)
		}
	}
}

func BenchmarkEvaluateDenied(b *testing.B) {
	c := mustCompile(b, string(readExample(b)))
	req, ctx := okRequest(), context.Background()
	req.Purpose = "marketing"
	var d Decision
	b.ReportAllocs()
	for b.Loop() {
		if c.EvaluateInto(ctx, req, &d); d.Allowed {
			b.Fatal("allowed")
		}
	}
}

func BenchmarkParseCompile(b *testing.B) {
	data := readExample(b)
	b.ReportAllocs()
	for b.Loop() {
		p, err := Parse(data)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Compile(p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMatch(b *testing.B) {
	o := mustParse(b, string(readExample(b)))
	r := mustParse(b, string(readExample(b)))
	b.ReportAllocs()
	for b.Loop() {
		if err := Match(o, r); err != nil {
			b.Fatal(err)
		}
	}
}
