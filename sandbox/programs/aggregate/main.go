// Command aggregate is an example tdsc sandbox program: it reads a CSV with a
// header on stdin, groups the rows by the first column, and writes one CSV row
// per group with the row count and the mean of every numeric column. Groups of
// fewer than MinGroup rows are left out, so no small group can be singled out.
// Built with GOOS=wasip1 GOARCH=wasm it runs in the provider's sandbox
// (docs/sandbox.md); built natively it is `tdsc bench compute`'s baseline.
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"

	"github.com/tdsc/tdsc/sandbox/programs/internal/table"
)

// MinGroup is the smallest group the program reports.
const MinGroup = 10

type group struct {
	n    int
	sums []float64
	nums []int // numeric values seen per column
}

func main() {
	if err := run(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "aggregate:", err)
		os.Exit(1)
	}
}

func run(in io.Reader, out io.Writer) error {
	t := table.NewReader(in)
	head, err := t.Next()
	if err != nil {
		return fmt.Errorf("reading the header: %w", err)
	}
	cols := make([]string, len(head))
	for i, h := range head {
		cols[i] = string(h)
	}
	groups := map[string]*group{}
	for {
		rec, err := t.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("line %d: %w", t.Line(), err)
		}
		g := groups[string(rec[0])]
		if g == nil {
			g = &group{sums: make([]float64, len(cols)), nums: make([]int, len(cols))}
			groups[string(rec[0])] = g
		}
		g.n++
		for i := 1; i < len(rec) && i < len(cols); i++ {
			if v, ok := table.Number(rec[i]); ok {
				g.sums[i] += v
				g.nums[i]++
			}
		}
	}
	// A column is reported when every row of every group had a number there.
	numeric := make([]bool, len(cols))
	for i := 1; i < len(cols); i++ {
		numeric[i] = len(groups) > 0
		for _, g := range groups {
			if g.nums[i] != g.n {
				numeric[i] = false
				break
			}
		}
	}
	names := make([]string, 0, len(groups))
	for k, g := range groups {
		if g.n >= MinGroup {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	w := bufio.NewWriter(out)
	fmt.Fprintf(w, "%s,count", cols[0])
	for i := 1; i < len(cols); i++ {
		if numeric[i] {
			fmt.Fprintf(w, ",mean_%s", cols[i])
		}
	}
	w.WriteByte('\n')
	for _, k := range names {
		g := groups[k]
		fmt.Fprintf(w, "%s,%d", quote(k), g.n)
		for i := 1; i < len(cols); i++ {
			if numeric[i] {
				w.WriteByte(',')
				w.WriteString(strconv.FormatFloat(g.sums[i]/float64(g.n), 'f', 4, 64))
			}
		}
		w.WriteByte('\n')
	}
	return w.Flush()
}

func quote(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] == ',' || s[i] == '"' || s[i] == '\n' {
			return strconv.Quote(s)
		}
	}
	return s
}
