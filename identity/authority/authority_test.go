package authority

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/embedded"
	"github.com/tdsc/tdsc/ledger/rulebook"
	"github.com/tdsc/tdsc/policy"
)

func TestValidateCreditCode(t *testing.T) {
	tests := []struct {
		code string
		ok   bool
	}{
		{"91350100M000100Y43", true},
		{"91110000600037341L", true},
		{"91350100M000100Y44", false}, // check digit
		{"91350100M000100Y4", false},  // length
		{"91350100M00010OY43", false}, // O is not in the alphabet
		{"913501A0M000100Y43", false}, // division code not digits
		{"", false},
	}
	for _, tc := range tests {
		err := ValidateCreditCode(tc.code)
		if (err == nil) != tc.ok {
			t.Errorf("%q: err %v, want ok=%v", tc.code, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: %v does not wrap ErrInvalid", tc.code, err)
		}
	}
}

func TestValidateRegion(t *testing.T) {
	for code, ok := range map[string]bool{
		"CN": true, "CN-BJ": true, "DE-BE": true, "CN-HK": true, "US-CA": true, "FR-75": true,
		"cn": false, "CHN": false, "CN-": false, "CN-ABCD": false, "CN_BJ": false, "": false, "CN-bj": false,
	} {
		if err := ValidateRegion(code); (err == nil) != ok {
			t.Errorf("%q: err %v, want ok=%v", code, err, ok)
		}
	}
}

// testSpace is an authority initialised in a temp dir with a real embedded
// ledger created from its genesis, and a registry reading that ledger.
type testSpace struct {
	auth  *Authority
	store *embedded.Store
	reg   *identity.Registry
	now   time.Time
}

func newTestSpace(t *testing.T) *testSpace {
	t.Helper()
	ts := &testSpace{now: time.Date(2026, 11, 23, 20, 0, 0, 0, time.UTC)}
	clock := func() time.Time { return ts.now }
	dir := t.TempDir()
	a, err := Init(filepath.Join(dir, "authority"), InitOptions{Space: "space-t", Region: "CN-BJ"}, WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	st, err := embedded.Open(t.Context(), filepath.Join(dir, "ledger"), a.Genesis(), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close(context.Background()) })
	ts.auth, ts.store = a, st
	ts.reg = identity.NewRegistry(st, identity.WithRegistryClock(clock),
		identity.WithNotFound(func(err error) bool { return errors.Is(err, ledger.ErrNotFound) }))
	return ts
}

func TestInitAndOpen(t *testing.T) {
	dir := t.TempDir()
	a, err := Init(dir, InitOptions{Space: "space-1"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v mode %v", err, st.Mode())
	}
	b, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if b.Key().KeyID() != a.Key().KeyID() || b.Genesis().Space != "space-1" || b.ID() != DefaultID {
		t.Errorf("reopened authority %s/%s", b.Genesis().Space, b.ID())
	}
	if _, err := Init(dir, InitOptions{Space: "space-1"}); err == nil {
		t.Fatal("Init over an existing space succeeded")
	}
	if _, err := Init(t.TempDir(), InitOptions{Space: "bad space"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad space id: %v", err)
	}
	other, _ := identity.GenerateEd25519()
	if _, err := New(a.Genesis(), other); !errors.Is(err, ErrInvalid) {
		t.Fatalf("New with a key not pinned at genesis: %v", err)
	}
}

func TestRegistrationValidate(t *testing.T) {
	k, _ := identity.GenerateEd25519()
	good := Registration{ID: "org-1", Name: "Org One", Key: k.JWK(), Region: "CN-SH", Industry: "finance", OrgType: "enterprise", CreditCode: "91350100M000100Y43"}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	byDID := good
	byDID.ID, byDID.DID = "did:web:127.0.0.1%3A8443:harbour", "did:web:127.0.0.1%3A8443:harbour"
	if err := byDID.Validate(); err != nil {
		t.Fatalf("a did:web with a port as the id: %v", err)
	}
	tests := []struct {
		name  string
		edit  func(*Registration)
		field string
	}{
		{"id", func(r *Registration) { r.ID = "org 1" }, "field id"},
		{"id with a bare %", func(r *Registration) { r.ID = "did:web:host%3" }, "field id"},
		{"id with a non-hex escape", func(r *Registration) { r.ID = "did:web:host%zz" }, "field id"},
		{"name", func(r *Registration) { r.Name = "" }, "field name"},
		{"key", func(r *Registration) { r.Key.X = "short" }, "field keys[0]"},
		{"region", func(r *Registration) { r.Region = "Beijing" }, "field region"},
		{"industry", func(r *Registration) { r.Industry = "" }, "field industry"},
		{"orgType", func(r *Registration) { r.OrgType = "" }, "field orgType"},
		{"creditCode", func(r *Registration) { r.CreditCode = "91350100M000100Y44" }, "field creditCode"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := good
			tc.edit(&r)
			err := r.Validate()
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("got %v, want ErrInvalid naming %q", err, tc.field)
			}
		})
	}
}

// TestRegistryOnLedger registers a participant on a real embedded ledger,
// verifies its token through a registry reading that ledger, suspends it and
// sees its token refused, and sets the space rules.
func TestRegistryOnLedger(t *testing.T) {
	ctx := t.Context()
	ts := newTestSpace(t)
	key, _ := identity.GenerateES256()
	rec, err := ts.auth.Register(Registration{ID: "org-1", Name: "Org One", Key: key.JWK(), Region: "CN-SH", Industry: "finance", OrgType: "enterprise"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.auth.Submit(ctx, ts.store, rec); err != nil {
		t.Fatalf("register: %v", err)
	}

	ver, _ := identity.NewVerifier(ts.reg, identity.WithClock(func() time.Time { return ts.now }), identity.WithAuthority(ts.auth.ID()))
	iss, _ := identity.NewIssuer("org-1", key, identity.WithIssuerClock(func() time.Time { return ts.now }))
	tok, _ := iss.ProtocolToken("org-2")
	if _, err := ver.VerifyProtocol(ctx, tok, "org-2"); err != nil {
		t.Fatalf("registered participant's token: %v", err)
	}

	// Registering the same participant again is refused by the ledger's rulebook.
	again, _ := ts.auth.Register(Registration{ID: "org-1", Name: "Org One", Key: key.JWK(), Region: "CN-SH", Industry: "finance", OrgType: "enterprise"})
	if _, err := ts.auth.Submit(ctx, ts.store, again); !errors.Is(err, ledger.ErrRefused) {
		t.Fatalf("duplicate registration: %v", err)
	}

	cur, err := ts.store.Participant(ctx, "org-1")
	if err != nil {
		t.Fatal(err)
	}
	sus, err := ts.auth.Suspend(cur)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.auth.Submit(ctx, ts.store, sus); err != nil {
		t.Fatalf("suspend: %v", err)
	}
	ts.reg.Invalidate("org-1")
	tok, _ = iss.ProtocolToken("org-2")
	if _, err := ver.VerifyProtocol(ctx, tok, "org-2"); !errors.Is(err, identity.ErrSuspended) {
		t.Fatalf("suspended participant's token: %v", err)
	}

	region := "CN-BJ"
	cur, _ = ts.store.Participant(ctx, "org-1")
	upd, err := ts.auth.Update(cur, Change{Region: &region, Status: ptr(identity.StatusActive)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.auth.Submit(ctx, ts.store, upd); err != nil {
		t.Fatalf("update: %v", err)
	}
	if p, _ := ts.store.Participant(ctx, "org-1"); p.Region != "CN-BJ" || p.Status != identity.StatusActive {
		t.Fatalf("after update: %+v", p)
	}

	rules := policy.SpaceRules{NegativeList: []policy.NegativeEntry{{Category: "genetic", Reason: "negative list"}}}
	rr, err := ts.auth.SetRules(rules)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.auth.Submit(ctx, ts.store, rr); err != nil {
		t.Fatalf("rules: %v", err)
	}
	if got, _ := ts.store.Rules(ctx); len(got.NegativeList) != 1 {
		t.Fatalf("rules on ledger: %+v", got)
	}
	if _, err := ts.reg.Participant(ctx, "nobody"); !errors.Is(err, identity.ErrUnknownParticipant) {
		t.Fatalf("unknown participant through the ledger: %v", err)
	}
}

// TestOnlyAuthorityWritesRegistry: a batch of registry records signed by a
// participant's key is refused by the ledger.
func TestOnlyAuthorityWritesRegistry(t *testing.T) {
	ctx := t.Context()
	ts := newTestSpace(t)
	key, _ := identity.GenerateEd25519()
	rec, _ := ts.auth.Register(Registration{ID: "org-1", Name: "Org One", Key: key.JWK(), Region: "CN-SH", Industry: "finance", OrgType: "enterprise"})
	if _, err := ts.auth.Submit(ctx, ts.store, rec); err != nil {
		t.Fatal(err)
	}
	forged, _ := ts.auth.Register(Registration{ID: "org-2", Name: "Org Two", Key: key.JWK(), Region: "CN-SH", Industry: "finance", OrgType: "enterprise"})
	forged.Actor = "org-1"
	b, err := ledger.NewBatch("space-t", "org-1", key, []ledger.Record{forged})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.store.Append(ctx, b); err == nil {
		t.Fatal("a participant registered another participant")
	}
}

func TestRoleToken(t *testing.T) {
	ts := newTestSpace(t)
	tok, err := ts.auth.RoleToken(identity.RoleAuditor, "auditor-1", "ledger", []string{"records"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ver, _ := identity.NewVerifier(ts.reg, identity.WithClock(func() time.Time { return ts.now }), identity.WithAuthority(ts.auth.ID()))
	c, err := ver.VerifyRole(t.Context(), tok, "ledger")
	if err != nil {
		t.Fatal(err)
	}
	if c.Role != identity.RoleAuditor || c.Subject != "auditor-1" {
		t.Errorf("claims %+v", c)
	}
	if _, err := ts.auth.RoleToken(identity.RoleParticipant, "x", "ledger", nil, time.Hour); !errors.Is(err, ErrInvalid) {
		t.Fatalf("participant role from the authority: %v", err)
	}
	if _, err := ts.auth.RoleToken(identity.RoleRegulator, "x", "ledger", nil, 365*24*time.Hour); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a year-long token: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

// TestKeyBelongsToOneParticipant: the authority refuses its own key itself;
// a key registered to another participant only the ledger can see, and its
// rulebook refuses it, naming the holder. A key dropped by a rotation is
// free for another participant.
func TestKeyBelongsToOneParticipant(t *testing.T) {
	ctx := t.Context()
	ts := newTestSpace(t)
	reg := func(id string, k identity.JWK) Registration {
		return Registration{ID: id, Name: id, Key: k, Region: "CN-SH", Industry: "finance", OrgType: "enterprise"}
	}
	k1, _ := identity.GenerateEd25519()
	rec, err := ts.auth.Register(reg("org-1", k1.JWK()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.auth.Submit(ctx, ts.store, rec); err != nil {
		t.Fatal(err)
	}
	org1, err := ts.store.Participant(ctx, "org-1")
	if err != nil {
		t.Fatal(err)
	}

	own := ts.auth.Genesis().Authority.Keys[0]
	if _, err := ts.auth.Register(reg("org-2", own)); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "field key:") {
		t.Fatalf("registering the authority's key: %v", err)
	}
	if _, err := ts.auth.Update(org1, Change{AddKeys: []identity.JWK{own}}); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "field addKeys[0]:") {
		t.Fatalf("adding the authority's key: %v", err)
	}

	refusedNaming := func(err error, field, holder string) {
		t.Helper()
		var re *ledger.RuleError
		if !errors.As(err, &re) || re.Rule != rulebook.RuleKeyUnique || re.Field != field || !strings.Contains(re.Reason, "participant "+holder+",") {
			t.Fatalf("got %v, want %s on %s naming %s", err, rulebook.RuleKeyUnique, field, holder)
		}
	}
	stolen, err := ts.auth.Register(reg("org-2", k1.JWK()))
	if err != nil {
		t.Fatal(err)
	}
	_, err = ts.auth.Submit(ctx, ts.store, stolen)
	refusedNaming(err, "participant.keys[0]", "org-1")
	if _, err := ts.reg.Participant(ctx, "org-2"); !errors.Is(err, identity.ErrUnknownParticipant) {
		t.Fatalf("org-2 after the refused registration: %v", err)
	}

	k2, _ := identity.GenerateEd25519()
	rec, _ = ts.auth.Register(reg("org-2", k2.JWK()))
	if _, err := ts.auth.Submit(ctx, ts.store, rec); err != nil {
		t.Fatal(err)
	}
	org2, _ := ts.store.Participant(ctx, "org-2")
	add, err := ts.auth.Update(org2, Change{AddKeys: []identity.JWK{k1.JWK()}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = ts.auth.Submit(ctx, ts.store, add)
	refusedNaming(err, "participant.keys[1]", "org-1")

	// org-1 rotates to k3; k1 is then free for org-2.
	k3, _ := identity.GenerateEd25519()
	rot, err := ts.auth.Update(org1, Change{AddKeys: []identity.JWK{k3.JWK()}, RemoveKeys: []string{k1.KeyID()}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.auth.Submit(ctx, ts.store, rot); err != nil {
		t.Fatalf("rotation: %v", err)
	}
	if _, err := ts.auth.Submit(ctx, ts.store, add); err != nil {
		t.Fatalf("org-2 taking the key org-1 dropped: %v", err)
	}
	if p, _ := ts.store.Participant(ctx, "org-2"); len(p.Keys) != 2 {
		t.Fatalf("org-2 after taking k1: %+v", p)
	}
}
