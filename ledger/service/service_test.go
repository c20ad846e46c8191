package service_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/api"
	"github.com/tdsc/tdsc/ledger/client"
	"github.com/tdsc/tdsc/ledger/embedded"
	"github.com/tdsc/tdsc/ledger/ledgertest"
	"github.com/tdsc/tdsc/ledger/service"
	"github.com/tdsc/tdsc/ledger/verify"
	"github.com/tdsc/tdsc/policy"
)

// tokens is a real, if simple, ReadAuthorizer: bearer tokens known to the test.
var tokens = map[string]service.Principal{
	"auditor-token":   {Role: identity.RoleAuditor},
	"regulator-token": {Role: identity.RoleRegulator},
	"p1-token":        {Role: identity.RoleParticipant, ID: "p1"},
	"p3-token":        {Role: identity.RoleParticipant, ID: "p3"},
}

func authorize(r *http.Request) (service.Principal, error) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return service.Principal{}, errors.New("no bearer token")
	}
	p, ok := tokens[tok]
	if !ok {
		return service.Principal{}, errors.New("unknown token")
	}
	return p, nil
}

func serve(t *testing.T, g ledger.Genesis) (*embedded.Store, *httptest.Server) {
	t.Helper()
	st, err := embedded.Open(context.Background(), t.TempDir(), g, embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close(context.Background()) })
	h, err := service.New(service.Config{Backend: st, Authorize: authorize})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return st, srv
}

func newClient(t *testing.T, srv *httptest.Server, tok string) *client.Client {
	t.Helper()
	c, err := client.New(srv.URL, client.WithHTTPClient(srv.Client()), client.WithToken(tok))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestConformanceOverHTTP runs the backend suite through service and client.
func TestConformanceOverHTTP(t *testing.T) {
	ledgertest.Run(t, func(t *testing.T, g ledger.Genesis) (ledgertest.Backend, string) {
		st, srv := serve(t, g)
		return newClient(t, srv, "auditor-token"), st.VerifierKey()
	})
}

func populate(t *testing.T, s *ledgertest.Space, c *client.Client) {
	t.Helper()
	p1, _ := s.Participant("p1", "CN-BJ")
	p2, _ := s.Participant("p2", "CN-SH")
	p3, _ := s.Participant("p3", "CN-GD")
	ag, _ := s.Agreement("p1", "p2", "ds-1", "ag-1", nil)
	for _, bt := range []struct {
		w    string
		recs []ledger.Record
	}{
		{s.Authority(), []ledger.Record{p1, p2, p3}},
		{"p1", []ledger.Record{s.Dataset("p1", "ds-1", policy.General, "traffic"), ag, s.Transfer("p1", "p2", "ag-1", "ds-1", "t-1")}},
	} {
		b, err := s.Batch(bt.w, bt.recs...)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Append(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReadsNeedRoles(t *testing.T) {
	s, _ := ledgertest.NewSpace()
	_, srv := serve(t, s.Genesis)
	ctx := context.Background()
	populate(t, s, newClient(t, srv, "auditor-token"))

	noToken, _ := client.New(srv.URL, client.WithHTTPClient(srv.Client()))
	if _, err := noToken.Query(ctx, ledger.Query{}); !errors.Is(err, service.ErrUnauthorized) {
		t.Fatalf("query without token: %v", err)
	}
	bad := newClient(t, srv, "forged")
	if _, err := bad.Record(ctx, "rec-00000001"); !errors.Is(err, service.ErrUnauthorized) {
		t.Fatalf("record with a bad token: %v", err)
	}
	// Raw request without token: 401 with a JSON body.
	resp, err := srv.Client().Get(srv.URL + "/ledger/v1/records")
	if err != nil {
		t.Fatal(err)
	}
	var body api.Error
	json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || body.Kind != api.KindUnauthorized {
		t.Fatalf("no token: %d %+v", resp.StatusCode, body)
	}

	for _, tc := range []struct {
		tok  string
		want int
	}{{"auditor-token", 6}, {"regulator-token", 6}, {"p1-token", 3}, {"p3-token", 0}} {
		p, err := newClient(t, srv, tc.tok).Query(ctx, ledger.Query{})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Records) != tc.want {
			t.Fatalf("%s sees %d records, want %d", tc.tok, len(p.Records), tc.want)
		}
	}
	p3 := newClient(t, srv, "p3-token")
	if _, err := p3.Query(ctx, ledger.Query{Participant: "p1"}); !errors.Is(err, service.ErrForbidden) {
		t.Fatalf("p3 querying p1's records: %v", err)
	}
	tr, err := newClient(t, srv, "p1-token").Query(ctx, ledger.Query{Transfer: "t-1"})
	if err != nil || len(tr.Records) != 1 {
		t.Fatalf("p1 reading its transfer: %v %v", tr, err)
	}
	if _, err := p3.Record(ctx, tr.Records[0].Record.ID); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("p3 reading p1's transfer record: %v", err)
	}
	if err := p3.Batches(ctx, 0, func(*ledger.StoredBatch) error { return nil }); !errors.Is(err, service.ErrForbidden) {
		t.Fatalf("participant reading whole batches: %v", err)
	}
	// Public registry data needs no token.
	if p, err := noToken.Participant(ctx, "p1"); err != nil || p.Region != "CN-BJ" {
		t.Fatalf("participant p1: %+v %v", p, err)
	}
	if _, err := noToken.ParticipantByDID(ctx, "did:web:nobody.example.com"); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("participant by an unregistered DID: %v", err)
	}
	for _, q := range []string{"", "?did=p1"} {
		resp, err := srv.Client().Get(srv.URL + "/ledger/v1/participants" + q)
		if err != nil {
			t.Fatal(err)
		}
		var body api.Error
		json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || body.Field != "did" {
			t.Fatalf("participants%s: %d %+v, want 400 naming did", q, resp.StatusCode, body)
		}
	}
	resp, err = srv.Client().Get(srv.URL + "/ledger/v1/participants/p1/jwks")
	if err != nil {
		t.Fatal(err)
	}
	var jwks struct {
		Keys []map[string]string `json:"keys"`
	}
	json.NewDecoder(resp.Body).Decode(&jwks)
	resp.Body.Close()
	if len(jwks.Keys) != 1 || jwks.Keys[0]["kid"] != s.Keys["p1"].KeyID() {
		t.Fatalf("jwks: %+v", jwks)
	}
}

func TestBadInputNamesFieldAndRule(t *testing.T) {
	s, _ := ledgertest.NewSpace()
	_, srv := serve(t, s.Genesis)
	populate(t, s, newClient(t, srv, "auditor-token"))
	good, _ := s.Batch("p1", s.Dataset("p1", "ds-2", policy.General, "traffic"))
	goodJSON, _ := json.Marshal(good)
	unknownKind := strings.Replace(string(goodJSON), `"kind":"dataset.registered"`, `"kind":"dataset.stolen"`, 1)
	refused, _ := s.Batch("p1", s.Transfer("p1", "p2", "ag-none", "ds-1", "t-9"))
	refusedJSON, _ := json.Marshal(refused)
	other, _ := s.Batch("p1", s.Dataset("p1", "ds-3", policy.General, "traffic"))
	badSig := *good
	badSig.Signature = other.Signature
	badSigJSON, _ := json.Marshal(&badSig)
	stranger, _ := identity.GenerateEd25519()
	unknown, _ := ledger.NewBatch(s.Genesis.Space, "p9", stranger, []ledger.Record{s.Dataset("p9", "ds-9", policy.General, "traffic")})
	unknownJSON, _ := json.Marshal(unknown)
	for _, tc := range []struct {
		name, body string
		status     int
		code, rule string
		field      string
	}{
		{"malformed JSON", `{"space":`, 400, api.KindMalformed, ledger.RuleJSON, "batch"},
		{"unknown field", strings.Replace(string(goodJSON), `"space"`, `"spaceship":1,"space"`, 1), 400, api.KindMalformed, ledger.RuleJSON, "batch"},
		{"unknown kind", unknownKind, 400, api.KindMalformed, ledger.RuleKind, "records[0].kind"},
		{"oversized", `{"space":"` + strings.Repeat("x", ledger.MaxBatchBytes) + `"}`, 400, api.KindMalformed, ledger.RuleSize, "batch"},
		{"missing signature", strings.Replace(string(goodJSON), `"signature":"`+good.Signature+`"`, `"signature":""`, 1), 400, api.KindMalformed, ledger.RuleFormat, "signature"},
		{"rule violation", string(refusedJSON), 422, api.KindRefused, "agreement.exists", "agreement"},
		{"bad signature", string(badSigJSON), 401, api.KindBadSignature, ledger.RuleBatchSignature, "signature"},
		{"unknown writer", string(unknownJSON), 403, api.KindUnknownWriter, ledger.RuleWriterRegistered, "writer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := srv.Client().Post(srv.URL+"/ledger/v1/batches", "application/json", strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body api.Error
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status || body.Kind != tc.code || body.Rule != tc.rule || body.Field != tc.field {
				t.Fatalf("got %d %+v, want %d code %s rule %s field %s", resp.StatusCode, body, tc.status, tc.code, tc.rule, tc.field)
			}
		})
	}
	// Nothing of the above touched the ledger: the good batch still goes in at index 6.
	rc, err := newClient(t, srv, "auditor-token").Append(context.Background(), good)
	if err != nil || rc.FirstIndex != 6 {
		t.Fatalf("good batch after bad ones: %+v %v", rc, err)
	}
}

func TestVerifyOverURLAndMetrics(t *testing.T) {
	s, _ := ledgertest.NewSpace()
	st, srv := serve(t, s.Genesis)
	c := newClient(t, srv, "auditor-token")
	populate(t, s, c)
	rep, err := verify.Ledger(context.Background(), c, st.VerifierKey())
	if err != nil || rep.Records != 6 || rep.Checkpoints != 2 {
		t.Fatalf("verify over URL: %+v %v", rep, err)
	}
	for _, path := range []string{"/healthz", "/metrics"} {
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || path == "/metrics" && (!strings.Contains(string(b), `tdsc_ledger_batches_total{result="ok"} 2`) || !strings.Contains(string(b), "tdsc_ledger_tree_size 6")) {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, b)
		}
	}
}

// TestDirectoryChangesArePublic: the directory's changes are served without
// a role token (a participant's own view holds no participant.updated
// records), name participants and indexes only, and a bad since or limit is
// refused naming the field.
func TestDirectoryChangesArePublic(t *testing.T) {
	s, _ := ledgertest.NewSpace()
	_, srv := serve(t, s.Genesis)
	ctx := context.Background()
	auditor := newClient(t, srv, "auditor-token")
	populate(t, s, auditor)
	b, err := s.Batch(s.Authority(), s.Suspend("p2"))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := auditor.Append(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := newClient(t, srv, "p1-token").Query(ctx, ledger.Query{Kind: ledger.KindParticipantUpdated}); err != nil || len(p.Records) != 0 {
		t.Fatalf("p1's own view of participant.updated: %+v, %v (want none: the feed is what it reads)", p, err)
	}
	noToken, _ := client.New(srv.URL, client.WithHTTPClient(srv.Client()))
	ch, err := noToken.DirectoryChanges(ctx, 0, 0)
	want := ledger.DirectoryChanges{Changes: []ledger.DirectoryChange{{Participant: "p2", Index: rc.FirstIndex}}, Next: rc.FirstIndex + 1}
	if err != nil || !reflect.DeepEqual(ch, want) {
		t.Fatalf("directory changes without a token: %+v, %v; want %+v", ch, err, want)
	}
	if ch, err := noToken.DirectoryChanges(ctx, ch.Next, 0); err != nil || len(ch.Changes) != 0 || ch.Next != want.Next {
		t.Fatalf("polling again: %+v, %v", ch, err)
	}
	resp, err := srv.Client().Get(srv.URL + "/ledger/v1/directory/changes?since=0")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(raw), "suspended") || strings.Contains(string(raw), "CN-SH") {
		t.Fatalf("the feed carries the record's content: %s", raw)
	}
	for _, q := range []struct{ query, field string }{{"since=-1", "since"}, {"since=x", "since"}, {"limit=1.5", "limit"}} {
		resp, err := srv.Client().Get(srv.URL + "/ledger/v1/directory/changes?" + q.query)
		if err != nil {
			t.Fatal(err)
		}
		var body api.Error
		json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || body.Field != q.field || body.Rule != ledger.RuleFormat {
			t.Fatalf("%s: %d %+v, want 400 naming %s", q.query, resp.StatusCode, body, q.field)
		}
	}
}

// unwell is a backend whose Health says what err holds.
type unwell struct {
	*embedded.Store
	err error
	ctx context.Context // the context Health was given
}

func (u *unwell) Health(ctx context.Context) error { u.ctx = ctx; return u.err }

// TestHealthz: a backend with Health answers 503 with its error while it
// is unwell and "ok" when it is well again; Health gets a bounded context.
func TestHealthz(t *testing.T) {
	s, _ := ledgertest.NewSpace()
	st, _ := serve(t, s.Genesis)
	b := &unwell{Store: st, err: errors.New("fabric: the follower cannot add block 7: index file: disk full")}
	srv := serveBackend(t, b)
	get := func() (int, string) { return getText(t, srv, "/healthz") }
	if code, body := get(); code != http.StatusServiceUnavailable || body != "unhealthy: fabric: the follower cannot add block 7: index file: disk full\n" {
		t.Fatalf("unwell: %d %q", code, body)
	}
	if _, ok := b.ctx.Deadline(); !ok {
		t.Error("Health's context has no deadline")
	}
	b.err = nil
	if code, body := get(); code != 200 || body != "ok\n" {
		t.Fatalf("well again: %d %q", code, body)
	}
}

// unready is a backend well (its Health) but not ready (its Ready).
type unready struct {
	*embedded.Store
	health, ready error
}

func (u *unready) Health(context.Context) error { return u.health }
func (u *unready) Ready(context.Context) error  { return u.ready }

// unwritable is a backend ready for reads (its Ready) and not for writes
// (its WritesReady).
type unwritable struct {
	*embedded.Store
	ready, writes error
}

func (u *unwritable) Ready(context.Context) error       { return u.ready }
func (u *unwritable) WritesReady(context.Context) error { return u.writes }

// TestProbes: /readyz answers with a backend's Ready where it has one,
// with its Health where it has only that, and "ok" for a backend with
// neither; /readyz/writes with its WritesReady where it has one, else as
// /readyz; /healthz stays with Health.
func TestProbes(t *testing.T) {
	s, _ := ledgertest.NewSpace()
	st, _ := serve(t, s.Genesis)
	const (
		catchingUp = "fabric: the follower is catching up: it holds the blocks before 7 of the peer's 900"
		noHeight   = "fabric: the gateway's peer does not give its height"
		waits      = "fabric: writes wait: a transaction asks 2 of the profile's 2 endorsers and 1 can endorse now (Org2MSP: its peer cannot endorse: could not launch chaincode)"
	)
	embeddedSrv := serveBackend(t, st)
	catching := serveBackend(t, &unready{Store: st, ready: errors.New(catchingUp)})
	caughtUp := serveBackend(t, &unready{Store: st})
	sick := serveBackend(t, &unwell{Store: st, err: errors.New(noHeight)})
	waiting := serveBackend(t, &unwritable{Store: st, writes: errors.New(waits)})
	writable := serveBackend(t, &unwritable{Store: st})
	for _, c := range []struct {
		what, path string
		srv        *httptest.Server
		code       int
		body       string
	}{
		{"embedded", "/readyz", embeddedSrv, 200, "ok\n"},
		{"embedded", "/readyz/writes", embeddedSrv, 200, "ok\n"},
		{"catching up", "/readyz", catching, 503, "not ready: " + catchingUp + "\n"},
		{"catching up", "/healthz", catching, 200, "ok\n"},
		{"catching up, without WritesReady", "/readyz/writes", catching, 503, "not ready for writes: " + catchingUp + "\n"},
		{"caught up", "/readyz", caughtUp, 200, "ok\n"},
		{"unwell without Ready", "/readyz", sick, 503, "not ready: " + noHeight + "\n"},
		{"unwell without Ready or WritesReady", "/readyz/writes", sick, 503, "not ready for writes: " + noHeight + "\n"},
		{"writes waiting", "/readyz/writes", waiting, 503, "not ready for writes: " + waits + "\n"},
		{"writes waiting", "/readyz", waiting, 200, "ok\n"},
		{"endorsers back", "/readyz/writes", writable, 200, "ok\n"},
	} {
		if code, body := getText(t, c.srv, c.path); code != c.code || body != c.body {
			t.Errorf("%s, %s: %d %q; want %d %q", c.what, c.path, code, body, c.code, c.body)
		}
	}
}

// serveBackend serves the ledger API over b for the test.
func serveBackend(t *testing.T, b service.Backend) *httptest.Server {
	t.Helper()
	h, err := service.New(service.Config{Backend: b, Authorize: authorize})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// getText gets path from srv: the status and the body.
func getText(t *testing.T, srv *httptest.Server, path string) (int, string) {
	t.Helper()
	resp, err := srv.Client().Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}
