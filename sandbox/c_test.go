package sandbox_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/tdsc/tdsc/sandbox"
	"github.com/tdsc/tdsc/sandbox/programs"
)

func TestCAggregateIsTheCommittedBuild(t *testing.T) {
	if got, want := sandbox.HashModule(programs.CAggregate), "sha256:"+programs.CAggregateSum(); got != want {
		t.Fatalf("sandbox/programs/c/aggregate.wasm is %s, aggregate.wasm.sha256 says %s", got, want)
	}
}

// TestCAggregateBuildIsReproducible builds aggregate.c again and wants the
// committed bytes. Without clang it is skipped, unless TDSC_REQUIRE_CC is set
// (scripts/sandbox-c.sh sets it after installing the toolchain).
func TestCAggregateBuildIsReproducible(t *testing.T) {
	if _, err := programs.CCompiler(); err != nil {
		if os.Getenv("TDSC_REQUIRE_CC") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	src, err := programs.CSource()
	if err != nil {
		t.Fatal(err)
	}
	path, err := programs.BuildC(context.Background(), src, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, programs.CAggregate) {
		t.Fatalf("aggregate.c builds to %s, the committed module is %s: run scripts/sandbox-c.sh build and commit it",
			sandbox.HashModule(b), sandbox.HashModule(programs.CAggregate))
	}
}

// cInputs are CSVs where the two aggregates must agree, byte for byte, or
// fail alike.
func cInputs() map[string]string {
	var plain, wide, long, forms strings.Builder
	plain.WriteString("group,x,y\n")
	for i := range 500 {
		fmt.Fprintf(&plain, "g%02d,%d.%02d,%d\n", i%23, i*37%1000, i%100, -i*i)
	}
	wide.WriteString("a,b,c,d,e,f,g,h,i,j,k\n")
	for i := range 200 {
		fmt.Fprintf(&wide, "a rather long group name %d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d\n", i%3, i, i, i, i, i, i, i, i, i, i)
	}
	// One record longer than the C program's first buffer (1 MiB).
	long.WriteString("k,s,v\n")
	for i := range 11 {
		fmt.Fprintf(&long, "k,\"%s\",%d.5\n", strings.Repeat("x,\n", 400_000), i)
	}
	forms.WriteString("k,v\n")
	for i, f := range []string{"1e-400", "4e-320", "-inf", "Infinity", "0x1p4", "1_0", "1.e5", "+.5", "5.", "-0",
		"0x1.8p1", "1e0000001", "1_000.5_5", "0X_1P-2", "1E5", "12345678901234567890", "123456789.123456789",
		"1234567.1234567", "-.5", "99999999.99999999", "00012", "1e308", "1.7976931348623157e308", "1e-5_0",
		"1__0", "_1", "1_", "0x", "0xp1", "0x1p", "1e", "+Inf", "-nan", "nan", "9007199254740993", "1e99999999"} {
		for range 10 {
			fmt.Fprintf(&forms, "f%02d,%s\n", i, f)
		}
	}
	return map[string]string{
		"plain":                           plain.String(),
		"wide, long keys":                 wide.String(),
		"a record past the first buffer":  long.String(),
		"number forms":                    forms.String(),
		"quoted keys":                     "k,v\n" + strings.Repeat("\"a,b\",1\n\"say \"\"hi\"\"\",2\n\"two\nlines\",3\n", 10),
		"crlf, empty lines, ragged rows":  "k,v,w\r\n" + strings.Repeat("a,1,2\r\n\r\n\nb,3\nb,4,5,6,7\n", 12) + "a,9,9",
		"a column not numeric everywhere": "k,v,w\n" + strings.Repeat("a,1,x\na,2,3\n", 10),
		"header only":                     "k,v\n",
		"empty input":                     "",
		"unterminated quote":              "k,v\na,\"1\n",
		"quote inside a field":            "k,v\n" + strings.Repeat("a\"b\",1\n", 10),
	}
}

// run runs a module and returns its output or a comparable failure.
func runAgg(t testing.TB, r *sandbox.Runner, p *sandbox.Program, in string) string {
	res, err := r.Run(context.Background(), p, strings.NewReader(in), sandbox.Limits{})
	var ee *sandbox.ExitError
	switch {
	case err == nil:
		return string(res.Output)
	case errors.As(err, &ee):
		return fmt.Sprintf("exit %d", ee.Code)
	}
	t.Fatal(err)
	return ""
}

func TestCAggregateMatchesGo(t *testing.T) {
	r := newRunner(t, sandbox.Config{})
	goAgg := compile(t, r, module(t, programs.Aggregate))
	cAgg := compile(t, r, programs.CAggregate)
	for name, in := range cInputs() {
		t.Run(name, func(t *testing.T) {
			want, got := runAgg(t, r, goAgg, in), runAgg(t, r, cAgg, in)
			if got != want {
				t.Fatalf("C aggregate:\n%.2000s\nGo aggregate:\n%.2000s", got, want)
			}
			if name == "plain" && !strings.Contains(got, "g00,22,") {
				t.Fatalf("the plain input's result lacks its first group:\n%s", got)
			}
		})
	}
}

// FuzzCAggregateMatchesGo: for any input the two aggregates print the same
// bytes, or both fail with the same exit status.
func FuzzCAggregateMatchesGo(f *testing.F) {
	for _, in := range cInputs() {
		if len(in) < 64<<10 {
			f.Add(in)
		}
	}
	t := &testing.T{}
	r, err := sandbox.New(context.Background(), sandbox.Config{})
	if err != nil {
		f.Fatal(err)
	}
	defer r.Close(context.Background())
	goAgg, err := r.Compile(context.Background(), module(t, programs.Aggregate))
	if err != nil {
		f.Fatal(err)
	}
	cAgg, err := r.Compile(context.Background(), programs.CAggregate)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if want, got := runAgg(t, r, goAgg, in), runAgg(t, r, cAgg, in); got != want {
			t.Fatalf("input %q:\nC aggregate:\n%s\nGo aggregate:\n%s", in, got, want)
		}
	})
}
