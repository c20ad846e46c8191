package store

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

// DefaultPageSize and MaxPageSize bound one page of a list.
const (
	DefaultPageSize = 1000
	MaxPageSize     = 10000
)

// A Page is one window of a list read newest first: at most Limit rows
// (0: DefaultPageSize) after the row the cursor After names ("": from the
// newest). A list answers the cursor of its page's last row when more rows
// follow, "" at the end; rows added while a reader pages come before its
// cursor and are not seen twice, and none is skipped.
type Page struct {
	Limit int
	After string
}

// ParsePage reads a page from the strings an operator sent (limit and
// after, either may be empty), naming the field and the rule it breaks.
func ParsePage(limit, after string) (Page, error) {
	var p Page
	if limit != "" {
		n, err := strconv.Atoi(limit)
		if err != nil || n < 1 || n > MaxPageSize {
			return Page{}, fmt.Errorf("limit: %q is not a whole number from 1 to %d", limit, MaxPageSize)
		}
		p.Limit = n
	}
	if _, _, err := decodeCursor(after); err != nil {
		return Page{}, err
	}
	p.After = after
	return p, nil
}

func (p Page) size() int {
	if p.Limit <= 0 || p.Limit > MaxPageSize {
		return DefaultPageSize
	}
	return p.Limit
}

// cursor names a row of a list by its order key: creation time and id.
func cursor(created, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(created + "\x00" + id))
}

func decodeCursor(c string) (created, id string, err error) {
	if c == "" {
		return "", "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err == nil {
		var ok bool
		if created, id, ok = strings.Cut(string(b), "\x00"); ok && created != "" && id != "" {
			return created, id, nil
		}
	}
	return "", "", fmt.Errorf("after: %.40q is not a cursor this node answered with a list", c)
}

// pageQuery adds the page's window to a list query over a table with
// created_at and id, whose WHERE clause so far is where (may be empty) with
// args; it orders newest first and reads one row more than the page, to know
// whether another page follows.
func pageQuery(q, where string, args []any, p Page) (string, []any) {
	created, id, _ := decodeCursor(p.After)
	if created != "" {
		if where != "" {
			where += " AND "
		}
		where += fmt.Sprintf("(created_at < $%d OR (created_at = $%d AND id > $%d))", len(args)+1, len(args)+1, len(args)+2)
		args = append(args, created, id)
	}
	if where != "" {
		q += " WHERE " + where
	}
	return q + fmt.Sprintf(" ORDER BY created_at DESC, id LIMIT %d", p.size()+1), args
}

// nextOf trims a list read by pageQuery to its page and answers the cursor
// of the page's last row if another page follows.
func nextOf[T any](rows []T, p Page, key func(T) (created, id string)) ([]T, string) {
	if len(rows) <= p.size() {
		return rows, ""
	}
	rows = rows[:p.size()]
	return rows, cursor(key(rows[len(rows)-1]))
}

// clampLimit is a limit of the outbox's lists: 1 to MaxPageSize, else the default.
func clampLimit(n int) int {
	if n <= 0 || n > MaxPageSize {
		return DefaultPageSize
	}
	return n
}
