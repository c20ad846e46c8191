package dashboard_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tdsc/tdsc/audit/dashboard"
	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/embedded"
	"github.com/tdsc/tdsc/ledger/ledgertest"
)

// bigLedger is a real embedded ledger holding about n records of the
// ledgertest workload (participants, rules, datasets, agreements, then
// transfer.authorized / transfer.completed batches over 8 provider-consumer
// pairs), with a dashboard over it and a regulator's session cookie.
type bigLedger struct {
	store  *embedded.Store
	h      *dashboard.Handler
	cookie *http.Cookie
	space  *ledgertest.Space
	n      int
	build  time.Duration
	token  string
}

func newBigLedger(t testing.TB, n int) *bigLedger {
	t.Helper()
	s, w := ledgertest.MustWorkload(t, n, 500, 8)
	st, err := embedded.Open(context.Background(), t.TempDir(), s.Genesis, embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close(context.Background()) })
	start := time.Now()
	for _, b := range w.Setup {
		if _, err := st.Append(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	for _, stream := range w.Streams {
		for _, b := range stream {
			if _, err := st.Append(context.Background(), b); err != nil {
				t.Fatal(err)
			}
		}
	}
	bl := &bigLedger{store: st, space: s, n: w.Records, build: time.Since(start)}
	reg := identity.NewRegistry(st)
	v, err := identity.NewVerifier(reg, identity.WithAuthority(s.Authority()))
	if err != nil {
		t.Fatal(err)
	}
	bl.h, err = dashboard.New(st, st.VerifierKey(), dashboard.RoleTokens(v, audience))
	if err != nil {
		t.Fatal(err)
	}
	iss, err := identity.NewIssuer(s.Authority(), s.AuthorityKey)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := iss.RoleToken(identity.RoleRegulator, "regulator-1", audience, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	bl.token = tok
	req := httptest.NewRequest("POST", "/ui/api/login", strings.NewReader(`{"token":"`+tok+`"}`))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	bl.h.ServeHTTP(rec, req)
	for _, c := range rec.Result().Cookies() {
		if c.Name == dashboard.CookieName {
			bl.cookie = c
		}
	}
	if bl.cookie == nil {
		t.Fatalf("login: %d %s", rec.Code, rec.Body)
	}
	return bl
}

// get serves one request and returns its duration and response size.
func (bl *bigLedger) get(t testing.TB, path string) (time.Duration, int) {
	req := httptest.NewRequest("GET", path, nil)
	req.AddCookie(bl.cookie)
	rec := httptest.NewRecorder()
	start := time.Now()
	bl.h.ServeHTTP(rec, req)
	d := time.Since(start)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
	}
	return d, rec.Body.Len()
}

// scaleEndpoints are the requests the pages make, at their default page sizes.
func scaleEndpoints(n int) []string {
	return []string{
		"/ui/api/flows",
		"/ui/api/flows?classification=important&region=CN-SH",
		"/ui/api/timeline?buckets=48",
		"/ui/api/timeline?buckets=48&kind=transfer.completed",
		"/ui/api/records?limit=25",
		"/ui/api/records?limit=25&cursor=" + strconv.Itoa(n/2),
		"/ui/api/records?limit=25&participant=prov-3&denied=",
		"/ui/api/records/" + fmt.Sprintf("rec-%08d", n/2),
		"/ui/api/rules",
		"/ui/api/health",
	}
}

// TestScale measures the dashboard's endpoints over a real embedded ledger of
// TDSC_DASHBOARD_SCALE records (e.g. 100000); the figures are in docs/dashboard.md.
//
//	TDSC_DASHBOARD_SCALE=100000 go test ./audit/dashboard -run TestScale -v
func TestScale(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("TDSC_DASHBOARD_SCALE"))
	if n <= 0 {
		t.Skip("set TDSC_DASHBOARD_SCALE=100000 to measure the endpoints over a large ledger")
	}
	bl := newBigLedger(t, n)
	t.Logf("ledger: %d records appended in %v (%.0f records/s)", bl.n, bl.build.Round(time.Millisecond), float64(bl.n)/bl.build.Seconds())
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	d, size := bl.get(t, "/ui/api/flows")
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("first request (mirror loads %d records, flow report built): %v, %d bytes; heap +%.1f MiB (%d bytes a record)",
		bl.n, d.Round(time.Millisecond), size, float64(heap)/(1<<20), heap/int64(bl.n))
	t.Logf("%-62s %10s %10s %9s", "endpoint", "median", "max", "bytes")
	for _, p := range scaleEndpoints(bl.n) {
		var ds []time.Duration
		for i := 0; i < 7; i++ {
			d, size = bl.get(t, p)
			ds = append(ds, d)
		}
		slices.Sort(ds)
		t.Logf("%-62s %10v %10v %9d", p, ds[len(ds)/2].Round(10*time.Microsecond), ds[len(ds)-1].Round(10*time.Microsecond), size)
		if ds[len(ds)/2] > 2*time.Second {
			t.Errorf("%s: median %v, the page would not stay responsive", p, ds[len(ds)/2])
		}
	}
	// A new batch invalidates the cached report: the next flows request rebuilds it.
	use := bl.space.Record(ledger.KindUsageLogged, "cons-0")
	use.Agreement = "ag-0"
	b, err := bl.space.Batch("cons-0", use)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bl.store.Append(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the mirror asks for a new checkpoint at most every 250 ms
	d, _ = bl.get(t, "/ui/api/flows")
	t.Logf("flows after one more batch (incremental mirror, report rebuilt): %v", d.Round(time.Millisecond))
}

// BenchmarkEndpoints times each endpoint, warm, over a ledger of
// TDSC_DASHBOARD_SCALE records (default 10000).
func BenchmarkEndpoints(b *testing.B) {
	n, _ := strconv.Atoi(os.Getenv("TDSC_DASHBOARD_SCALE"))
	if n <= 0 {
		n = 10000
	}
	bl := newBigLedger(b, n)
	bl.get(b, "/ui/api/flows")
	for _, p := range scaleEndpoints(bl.n) {
		b.Run(p, func(b *testing.B) {
			for b.Loop() {
				bl.get(b, p)
			}
		})
	}
}
