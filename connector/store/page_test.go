package store

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tdsc/tdsc/connector/store/storetest"
)

// A list read page by page gives every row once, newest first, also when
// several rows share a creation time and when rows are added and updated
// while a reader pages.
func TestListPages(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	clock := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	tick := func() { mu.Lock(); clock = clock.Add(time.Millisecond); mu.Unlock() }
	s, err := Open(ctx, storetest.Path(t, filepath.Join(t.TempDir(), "c.db")), WithClock(now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	put := func(i int) {
		t.Helper()
		err := s.Update(ctx, func(tx *Tx) error {
			if err := tx.PutAgreement(&Agreement{ID: fmt.Sprintf("ag-%02d", i), Role: RoleProvider, State: AgreementActive}); err != nil {
				return err
			}
			if err := tx.PutNegotiation(&Negotiation{ID: fmt.Sprintf("n-%02d", i), Role: RoleProvider, State: "REQUESTED"}, "op", "r"); err != nil {
				return err
			}
			return tx.PutTransfer(&Transfer{ID: fmt.Sprintf("t-%02d", i), Role: RoleProvider, AgreementID: "ag-00", State: "REQUESTED"}, "op", "r")
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// 23 rows; every third shares its creation time with the one before.
	for i := range 23 {
		if i%3 != 2 {
			tick()
		}
		put(i)
	}

	type lister func(p Page) (ids []string, next string, err error)
	lists := map[string]lister{
		"agreements": func(p Page) ([]string, string, error) {
			l, next, err := s.View(ctx).Agreements(p)
			return idsOf(l, func(a *Agreement) string { return a.ID }), next, err
		},
		"negotiations": func(p Page) ([]string, string, error) {
			l, next, err := s.View(ctx).Negotiations("", p)
			return idsOf(l, func(n *Negotiation) string { return n.ID }), next, err
		},
		"transfers": func(p Page) ([]string, string, error) {
			l, next, err := s.View(ctx).Transfers("ag-00", p)
			return idsOf(l, func(x *Transfer) string { return x.ID }), next, err
		},
	}
	for name, list := range lists {
		t.Run(name, func(t *testing.T) {
			whole, next, err := list(Page{})
			if err != nil || next != "" || len(whole) != 23 {
				t.Fatalf("whole list: %d rows, next %q, %v", len(whole), next, err)
			}
			var paged []string
			p := Page{Limit: 5}
			for pages := 0; ; pages++ {
				ids, next, err := list(p)
				if err != nil {
					t.Fatal(err)
				}
				if len(ids) > 5 || pages > 10 {
					t.Fatalf("page %d: %d rows", pages, len(ids))
				}
				paged = append(paged, ids...)
				if next == "" {
					break
				}
				p.After = next
			}
			if strings.Join(paged, " ") != strings.Join(whole, " ") {
				t.Fatalf("paged:\n%v\nwhole:\n%v", paged, whole)
			}
			if whole[0] <= whole[len(whole)-1] {
				t.Errorf("not newest first: %v", whole)
			}
		})
	}

	// Newest first by time (the stamps' text order is their time order).
	l, _, err := s.View(ctx).Transfers("", Page{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(l); i++ {
		a, _ := time.Parse(time.RFC3339Nano, l[i-1].CreatedAt)
		b, _ := time.Parse(time.RFC3339Nano, l[i].CreatedAt)
		if b.After(a) || (b.Equal(a) && l[i].ID < l[i-1].ID) {
			t.Errorf("%s (%s) listed before %s (%s)", l[i-1].ID, l[i-1].CreatedAt, l[i].ID, l[i].CreatedAt)
		}
	}

	// Rows added and updated between pages: none of the first reading is
	// skipped or seen twice, and the new ones come before the cursor.
	first, next, err := s.View(ctx).Transfers("ag-00", Page{Limit: 10})
	if err != nil || next == "" {
		t.Fatal(next, err)
	}
	tick()
	put(23)
	err = s.Update(ctx, func(tx *Tx) error { // an update changes updated_at, not the order
		a, err := tx.Agreement("ag-20")
		if err != nil {
			return err
		}
		a.Uses++
		return tx.PutAgreement(a)
	})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, x := range first {
		seen[x.ID]++
	}
	for p := (Page{Limit: 10, After: next}); p.After != ""; {
		l, next, err := s.View(ctx).Transfers("ag-00", p)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range l {
			seen[x.ID]++
		}
		p.After = next
	}
	if len(seen) != 23 || seen["t-23"] != 0 {
		t.Errorf("after adding a row mid-way: saw %d rows (t-23 %d times)", len(seen), seen["t-23"])
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s seen %d times", id, n)
		}
	}
	all, err := s.View(ctx).AllTransfers("ag-00")
	if err != nil || len(all) != 24 {
		t.Errorf("AllTransfers: %d, %v", len(all), err)
	}
}

func idsOf[T any](l []T, id func(T) string) []string {
	out := make([]string, len(l))
	for i, x := range l {
		out[i] = id(x)
	}
	return out
}

func TestParsePage(t *testing.T) {
	good := cursor("2026-12-03T09:00:00.000000000Z", "t-1")
	for _, tc := range []struct {
		limit, after string
		want         string // "" = accepted
	}{
		{"", "", ""},
		{"1", good, ""},
		{"10000", "", ""},
		{"0", "", "limit:"},
		{"-3", "", "limit:"},
		{"10001", "", "limit:"},
		{"ten", "", "limit:"},
		{"5", "not-a-cursor!", "after:"},
		{"5", cursor("", "x"), "after:"}, // no creation time
		{"5", cursor("2026-12-03T09:00:00Z", ""), "after:"}, // no id
	} {
		_, err := ParsePage(tc.limit, tc.after)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("ParsePage(%q, %q): %v", tc.limit, tc.after, err)
		case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)):
			t.Errorf("ParsePage(%q, %q) = %v, want an error naming %s", tc.limit, tc.after, err, tc.want)
		}
	}
}

func FuzzParsePage(f *testing.F) {
	f.Add("5", cursor("2026-12-03T09:00:00Z", "t-1"))
	f.Add("", "")
	f.Add("x", "%%%")
	f.Fuzz(func(t *testing.T, limit, after string) {
		p, err := ParsePage(limit, after)
		if err != nil {
			return
		}
		if p.size() < 1 || p.size() > MaxPageSize {
			t.Fatalf("size %d", p.size())
		}
		if p.After != "" {
			if c, id, err := decodeCursor(p.After); err != nil || c == "" || id == "" {
				t.Fatalf("accepted cursor does not decode: %v", err)
			}
		}
	})
}
