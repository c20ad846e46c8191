package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/identity/authority"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/embedded"
	"github.com/tdsc/tdsc/ledger/rulebook"
	"github.com/tdsc/tdsc/ledger/service"
)

// runTDSC runs the CLI with args and returns its standard output.
func runTDSC(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := execCLI(t.Context(), &out, &out, args...)
	return out.String(), err
}

// execCLI runs the CLI with args, writing its standard output and
// standard error to the writers given.
func execCLI(ctx context.Context, stdout, stderr io.Writer, args ...string) error {
	root := newRoot()
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, err := runTDSC(t, args...)
	if err != nil {
		t.Fatalf("tdsc %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func TestKeysGenerate(t *testing.T) {
	dir := t.TempDir()
	for _, alg := range []string{"EdDSA", "ES256"} {
		path := filepath.Join(dir, alg+".key")
		out := mustRun(t, "keys", "generate", "--out", path, "--alg", alg)
		var k identity.JWK
		if err := json.Unmarshal([]byte(out), &k); err != nil {
			t.Fatalf("%s: output is not a JWK: %v\n%s", alg, err, out)
		}
		if err := k.Validate(); err != nil || k.Kid == "" || k.Algorithm() != alg {
			t.Fatalf("%s: JWK %+v: %v", alg, k, err)
		}
		st, _ := os.Stat(path)
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s: key file mode %v", alg, st.Mode().Perm())
		}
		if pub := mustRun(t, "keys", "public", "--key", path); pub != out {
			t.Errorf("keys public printed %s, generate printed %s", pub, out)
		}
		if _, err := runTDSC(t, "keys", "generate", "--out", path); err == nil {
			t.Errorf("%s: overwrote an existing key", alg)
		}
	}
	if _, err := runTDSC(t, "keys", "generate", "--out", filepath.Join(dir, "x"), "--alg", "RS256"); err == nil || !strings.Contains(err.Error(), "--alg") {
		t.Errorf("RS256: %v", err)
	}
}

// TestAuthorityCommands runs the authority's whole cycle through the CLI
// against a real ledger service on loopback.
func TestAuthorityCommands(t *testing.T) {
	dir := t.TempDir()
	auth := filepath.Join(dir, "auth")
	mustRun(t, "authority", "init", "--dir", auth, "--space", "space-cli")
	g, err := authority.ReadGenesis(filepath.Join(auth, authority.GenesisFile))
	if err != nil {
		t.Fatal(err)
	}
	st, err := embedded.Open(t.Context(), filepath.Join(dir, "ledger"), g, embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close(context.Background()) })
	reg := identity.NewRegistry(st, identity.WithNotFound(func(err error) bool { return errors.Is(err, ledger.ErrNotFound) }))
	ver, _ := identity.NewVerifier(reg, identity.WithAuthority(g.Authority.ID))
	h, err := service.New(service.Config{Backend: st, Authorize: func(r *http.Request) (service.Principal, error) {
		c, err := ver.VerifyRole(r.Context(), identity.BearerToken(r), "ledger")
		if err != nil {
			return service.Principal{}, err
		}
		return service.Principal{Role: c.Role}, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	jwk := filepath.Join(dir, "org1.jwk")
	if err := os.WriteFile(jwk, []byte(mustRun(t, "keys", "generate", "--out", filepath.Join(dir, "org1.key"))), 0o644); err != nil {
		t.Fatal(err)
	}
	reg1 := []string{"authority", "register", "--dir", auth, "--id", "org-1", "--name", "Org One", "--jwk", jwk,
		"--region", "CN-SH", "--industry", "finance", "--org-type", "enterprise", "--ledger", srv.URL}
	out := mustRun(t, append(reg1, "--credit-code", "91350100M000100Y43")...)
	var rc ledger.Receipt
	if err := json.Unmarshal([]byte(out), &rc); err != nil || len(rc.RecordIDs) != 1 {
		t.Fatalf("register printed %s (%v)", out, err)
	}
	if p, err := st.Participant(t.Context(), "org-1"); err != nil || p.CreditCode != "91350100M000100Y43" {
		t.Fatalf("on the ledger: %+v %v", p, err)
	}

	for _, tc := range []struct {
		args  []string
		field string
	}{
		{append(reg1[:len(reg1):len(reg1)], "--credit-code", "91350100M000100Y44"), "creditCode"},
		{[]string{"authority", "register", "--dir", auth, "--id", "org-2", "--name", "x", "--jwk", jwk, "--region", "Shanghai", "--industry", "a", "--org-type", "b", "--ledger", srv.URL}, "region"},
		{[]string{"authority", "register", "--dir", auth, "--id", "org-2", "--name", "x", "--region", "CN", "--industry", "a", "--org-type", "b", "--ledger", srv.URL}, "--jwk"},
		{[]string{"authority", "register", "--dir", auth, "--id", "org-2", "--name", "x", "--jwk", filepath.Join(dir, "org1.key"), "--region", "CN", "--industry", "a", "--org-type", "b", "--ledger", srv.URL}, "--jwk"},
	} {
		if _, err := runTDSC(t, tc.args...); err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%v: error %v does not name %s", tc.args, err, tc.field)
		}
	}
	// Registering org-1 again is refused by the ledger.
	if _, err := runTDSC(t, append(reg1[:len(reg1):len(reg1)], "--credit-code", "91350100M000100Y43")...); !errors.Is(err, ledger.ErrRefused) {
		t.Errorf("duplicate registration: %v", err)
	}

	mustRun(t, "authority", "suspend", "--dir", auth, "--id", "org-1", "--ledger", srv.URL)
	if p, _ := st.Participant(t.Context(), "org-1"); p.Status != identity.StatusSuspended {
		t.Fatalf("after suspend: %+v", p)
	}
	mustRun(t, "authority", "suspend", "--dir", auth, "--id", "org-1", "--reinstate", "--ledger", srv.URL)
	mustRun(t, "authority", "update", "--dir", auth, "--id", "org-1", "--region", "CN-BJ", "--ledger", srv.URL)
	if p, _ := st.Participant(t.Context(), "org-1"); p.Status != identity.StatusActive || p.Region != "CN-BJ" {
		t.Fatalf("after reinstate and update: %+v", p)
	}

	rules := filepath.Join(dir, "rules.json")
	os.WriteFile(rules, []byte(`{"negativeList":[{"category":"genomic","reason":"national list"}]}`), 0o644)
	mustRun(t, "authority", "rules", "set", rules, "--dir", auth, "--ledger", srv.URL)
	if r, _ := st.Rules(t.Context()); len(r.NegativeList) != 1 {
		t.Fatalf("rules: %+v", r)
	}

	tok := strings.TrimSpace(mustRun(t, "authority", "token", "--dir", auth, "--role", "auditor", "--subject", "auditor-1", "--ttl", "1h"))
	c, err := ver.VerifyRole(t.Context(), tok, "ledger")
	if err != nil || c.Role != identity.RoleAuditor || c.Subject != "auditor-1" {
		t.Fatalf("role token: %v %+v", err, c)
	}
	if _, err := runTDSC(t, "authority", "token", "--dir", auth, "--role", "admin", "--subject", "x"); err == nil || !strings.Contains(err.Error(), "role") {
		t.Errorf("admin role: %v", err)
	}

	// A ledger of another space is refused.
	other := filepath.Join(dir, "other")
	mustRun(t, "authority", "init", "--dir", other, "--space", "space-other")
	if _, err := runTDSC(t, "authority", "suspend", "--dir", other, "--id", "org-1", "--ledger", srv.URL); err == nil || !strings.Contains(err.Error(), "space") {
		t.Errorf("other space's ledger: %v", err)
	}
}

func TestBenchTokens(t *testing.T) {
	out := mustRun(t, "bench", "tokens", "-n", "200", "-o", "json")
	var res map[string]any
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, k := range []string{"signPerSecond", "verifyPerSecond", "accessVerifyPerSecond", "baselineSignatureVerifyPerSecond"} {
		if v, ok := res[k].(float64); !ok || v <= 0 {
			t.Errorf("%s = %v", k, res[k])
		}
	}
}

// TestAuthorityKeyUnique: registering a participant with another
// participant's key, or adding it by update, fails with the ledger's refusal
// naming the rule, the field and the holder, over an embedded ledger
// directory and over the ledger service; the authority's own key is refused
// before anything is signed.
func TestAuthorityKeyUnique(t *testing.T) {
	dir := t.TempDir()
	auth := filepath.Join(dir, "auth")
	mustRun(t, "authority", "init", "--dir", auth, "--space", "space-keys")
	g, err := authority.ReadGenesis(filepath.Join(auth, authority.GenesisFile))
	if err != nil {
		t.Fatal(err)
	}
	jwk := func(name string) string {
		t.Helper()
		path := filepath.Join(dir, name+".jwk")
		if err := os.WriteFile(path, []byte(mustRun(t, "keys", "generate", "--out", filepath.Join(dir, name+".key"))), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	k1, k2 := jwk("org1"), jwk("org2")
	authJWK := filepath.Join(dir, "authority.jwk")
	aj, _ := json.Marshal(g.Authority.Keys[0])
	if err := os.WriteFile(authJWK, aj, 0o644); err != nil {
		t.Fatal(err)
	}
	register := func(target []string, id, key string) []string {
		return append([]string{"authority", "register", "--dir", auth, "--id", id, "--name", id, "--jwk", key,
			"--region", "CN-SH", "--industry", "finance", "--org-type", "enterprise"}, target...)
	}
	refused := func(err error, field string) {
		t.Helper()
		var re *ledger.RuleError
		if !errors.As(err, &re) || re.Rule != rulebook.RuleKeyUnique || re.Field != field {
			t.Fatalf("got %v, want the ledger's refusal by %s on %s", err, rulebook.RuleKeyUnique, field)
		}
		for _, s := range []string{rulebook.RuleKeyUnique, field, "registered to participant org-1"} {
			if !strings.Contains(err.Error(), s) {
				t.Fatalf("message %q does not say %q", err, s)
			}
		}
	}

	embeddedDir := []string{"--ledger-dir", filepath.Join(dir, "ledger")}
	mustRun(t, register(embeddedDir, "org-1", k1)...)
	_, err = runTDSC(t, register(embeddedDir, "org-2", k1)...)
	refused(err, "participant.keys[0]")
	mustRun(t, register(embeddedDir, "org-2", k2)...)
	_, err = runTDSC(t, "authority", "update", "--dir", auth, "--id", "org-2", "--add-jwk", k1, "--ledger-dir", embeddedDir[1])
	refused(err, "participant.keys[1]")
	if _, err := runTDSC(t, register(embeddedDir, "org-3", authJWK)...); !errors.Is(err, authority.ErrInvalid) || !strings.Contains(err.Error(), "field key") {
		t.Fatalf("registering the authority's key: %v", err)
	}

	st, err := embedded.Open(t.Context(), filepath.Join(dir, "ledger-svc"), g, embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close(context.Background()) })
	h, err := service.New(service.Config{Backend: st, Authorize: func(*http.Request) (service.Principal, error) {
		return service.Principal{}, errors.New("no reads in this test")
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	svc := []string{"--ledger", srv.URL}
	mustRun(t, register(svc, "org-1", k1)...)
	_, err = runTDSC(t, register(svc, "org-2", k1)...)
	refused(err, "participant.keys[0]")
}
