package sandbox

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// OutputRule is what a result must satisfy before it may leave the provider.
// Zero fields do not apply.
type OutputRule struct {
	// MaxBytes caps the result's size.
	MaxBytes int64
	// MaxRows caps the result's data rows (CSV records after the header).
	MaxRows int
	// MinGroup, when set, makes the rule aggregate-only: the result must be a
	// CSV whose header has a "count" column, and every row's count must be a
	// whole number of at least MinGroup.
	MinGroup int
}

// CountColumn is the header an aggregate result names its group sizes with.
const CountColumn = "count"

// ErrOutput is wrapped by every *OutputError.
var ErrOutput = errors.New("output rule")

// OutputError says which part of the output rule a result broke.
type OutputError struct {
	// Rule is "output.maxBytes", "output.maxRows" or "output.aggregate".
	Rule   string
	Detail string
}

func (e *OutputError) Error() string { return "sandbox: output rule " + e.Rule + ": " + e.Detail }
func (e *OutputError) Unwrap() error { return ErrOutput }

// CheckOutput applies rule to out and returns the number of data rows. It
// parses out only as far as the rule needs.
func CheckOutput(out []byte, rule OutputRule) (int, error) {
	if rule.MaxBytes > 0 && int64(len(out)) > rule.MaxBytes {
		return 0, &OutputError{Rule: "output.maxBytes", Detail: fmt.Sprintf("%d bytes, at most %d allowed", len(out), rule.MaxBytes)}
	}
	if rule.MinGroup <= 0 {
		rows := dataLines(out)
		if rule.MaxRows > 0 && rows > rule.MaxRows {
			return rows, &OutputError{Rule: "output.maxRows", Detail: fmt.Sprintf("%d rows, at most %d allowed", rows, rule.MaxRows)}
		}
		return rows, nil
	}
	agg := func(format string, a ...any) error {
		return &OutputError{Rule: "output.aggregate", Detail: fmt.Sprintf(format, a...)}
	}
	r := csv.NewReader(bytes.NewReader(out))
	r.ReuseRecord = true
	head, err := r.Read()
	if err == io.EOF {
		return 0, nil // nothing leaves but nothing
	}
	if err != nil {
		return 0, agg("the result is not CSV: %v", err)
	}
	col := -1
	for i, h := range head {
		if strings.EqualFold(strings.TrimSpace(h), CountColumn) {
			col = i
			break
		}
	}
	if col < 0 {
		return 0, agg("the result's header has no %q column: only aggregates with group sizes may leave", CountColumn)
	}
	rows := 0
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return rows, agg("the result is not CSV: %v", err)
		}
		rows++
		if rule.MaxRows > 0 && rows > rule.MaxRows {
			return rows, &OutputError{Rule: "output.maxRows", Detail: fmt.Sprintf("more than %d rows", rule.MaxRows)}
		}
		n, err := strconv.Atoi(strings.TrimSpace(rec[col]))
		if err != nil {
			return rows, agg("row %d: count %q is not a whole number", rows, rec[col])
		}
		if n < rule.MinGroup {
			return rows, agg("row %d: a group of %d, smaller than the minimum %d", rows, n, rule.MinGroup)
		}
	}
	return rows, nil
}

// dataLines counts the non-empty lines after the first non-empty one: a
// result's rows when it is not read as CSV.
func dataLines(b []byte) int {
	n := 0
	for line := range bytes.Lines(b) {
		if len(bytes.TrimSpace(line)) > 0 {
			n++
		}
	}
	return max(n-1, 0)
}

// Shape is what a result shows an output rule: its data rows and, when it is
// an aggregate (a CSV with a count column and whole-number counts), its
// smallest group.
type Shape struct {
	Bytes         int64
	Rows          int
	Aggregate     bool
	SmallestGroup int
}

// Inspect reads a result's shape for the policy engine's output constraints
// (policy.OutputFacts). A result that is not CSV, or has no count column, or
// a count that is not a whole number, is not an aggregate; its rows are then
// its non-empty lines after the first.
func Inspect(out []byte) Shape {
	s := Shape{Bytes: int64(len(out)), Rows: dataLines(out)}
	r := csv.NewReader(bytes.NewReader(out))
	r.ReuseRecord = true
	r.FieldsPerRecord = -1
	head, err := r.Read()
	if err != nil {
		return s
	}
	col := -1
	for i, h := range head {
		if strings.EqualFold(strings.TrimSpace(h), CountColumn) {
			col = i
			break
		}
	}
	if col < 0 {
		return s
	}
	rows, smallest := 0, 0
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil || col >= len(rec) {
			return s
		}
		n, err := strconv.Atoi(strings.TrimSpace(rec[col]))
		if err != nil || n < 0 {
			return s
		}
		if rows == 0 || n < smallest {
			smallest = n
		}
		rows++
	}
	return Shape{Bytes: s.Bytes, Rows: rows, Aggregate: true, SmallestGroup: smallest}
}
