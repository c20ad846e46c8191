// Command regress is an example tdsc sandbox program in the style of a
// model-training job: it reads a CSV with a header on stdin and fits
// y = slope·x + intercept by least squares, x and y being the first two
// columns whose every value is a number. It writes one CSV row: the row count,
// the slope, the intercept and R². Built with GOOS=wasip1 GOARCH=wasm it runs
// in the provider's sandbox (docs/sandbox.md).
package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/tdsc/tdsc/sandbox/programs/internal/table"
)

func main() {
	if err := run(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "regress:", err)
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
	// Keep running sums for every column pair candidate: the columns that
	// stayed numeric so far.
	ok := make([]bool, len(cols))
	for i := range ok {
		ok[i] = true
	}
	vals := make([][]float64, 0, 1024)
	for {
		rec, err := t.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("line %d: %w", t.Line(), err)
		}
		row := make([]float64, len(cols))
		for i := range cols {
			if i >= len(rec) {
				ok[i] = false
				continue
			}
			v, isNum := table.Number(rec[i])
			if !isNum {
				ok[i] = false
			}
			row[i] = v
		}
		vals = append(vals, row)
	}
	x, y := -1, -1
	for i, good := range ok {
		if !good {
			continue
		}
		if x < 0 {
			x = i
		} else {
			y = i
			break
		}
	}
	if y < 0 || len(vals) < 2 {
		return errors.New("need two numeric columns and two rows")
	}
	var sx, sy, sxx, sxy, syy float64
	n := float64(len(vals))
	for _, r := range vals {
		sx += r[x]
		sy += r[y]
		sxx += r[x] * r[x]
		sxy += r[x] * r[y]
		syy += r[y] * r[y]
	}
	den := n*sxx - sx*sx
	if den == 0 {
		return fmt.Errorf("column %s is constant", cols[x])
	}
	slope := (n*sxy - sx*sy) / den
	intercept := (sy - slope*sx) / n
	r2 := math.Pow(n*sxy-sx*sy, 2) / (den * (n*syy - sy*sy))
	_, err = fmt.Fprintf(out, "x,y,count,slope,intercept,r2\n%s,%s,%d,%.6g,%.6g,%.6g\n", cols[x], cols[y], len(vals), slope, intercept, r2)
	return err
}
