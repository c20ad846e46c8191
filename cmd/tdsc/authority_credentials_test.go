package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/identity/dcp"
)

// TestAuthorityCredentials runs the credential cycle through the CLI against
// an embedded ledger: register with a DID, issue, list, suspend on the
// ledger, reconcile (the credential is revoked), and keys did.
func TestAuthorityCredentials(t *testing.T) {
	dir := t.TempDir()
	auth, led := filepath.Join(dir, "auth"), filepath.Join(dir, "ledger")
	mustRun(t, "authority", "init", "--dir", auth, "--space", "space-dcp")
	key := filepath.Join(dir, "alice.key")
	jwk := mustRun(t, "keys", "generate", "--out", key)
	jwkFile := writeFile(t, "alice.jwk", jwk)
	const aliceDID = "did:web:alice.example.com"
	mustRun(t, "authority", "register", "--dir", auth, "--ledger-dir", led, "--id", "alice", "--name", "Alice Ltd",
		"--jwk", jwkFile, "--region", "CN-SH", "--industry", "finance", "--org-type", "enterprise", "--did", aliceDID)
	if _, err := runTDSC(t, "authority", "register", "--dir", auth, "--ledger-dir", led, "--id", "bob", "--name", "Bob",
		"--jwk", jwkFile, "--region", "CN-SH", "--industry", "finance", "--org-type", "enterprise", "--did", "did:key:z6Mk"); err == nil || !strings.Contains(err.Error(), "field did") {
		t.Fatalf("register with a did:key: %v, want a refusal naming field did", err)
	}

	if _, err := runTDSC(t, "authority", "credentials", "issue", "--dir", auth, "--ledger-dir", led, "--id", "alice"); err == nil || !strings.Contains(err.Error(), "--did") {
		t.Fatalf("first issue without --did: %v", err)
	}
	vc := strings.TrimSpace(mustRun(t, "authority", "credentials", "issue", "--dir", auth, "--ledger-dir", led, "--id", "alice", "--did", "did:web:authority.example.com"))
	c, err := dcp.ParseUnverifiedCredential(vc)
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject.ID != aliceDID || c.Subject.Region != "CN-SH" || c.Subject.Industry != "finance" || c.Subject.MemberOf != "space-dcp" ||
		c.Issuer != "did:web:authority.example.com" || c.Status == nil || c.Status.StatusListCredential != "https://authority.example.com"+dcp.StatusPath {
		t.Fatalf("credential %+v: does not state the ledger's registration", c)
	}

	var list []dcp.IssuedCredential
	if err := json.Unmarshal([]byte(mustRun(t, "authority", "credentials", "list", "--dir", auth, "-o", "json")), &list); err != nil || len(list) != 1 || list[0].Revoked {
		t.Fatalf("list: %+v, %v", list, err)
	}
	// Nothing to revoke while the ledger shows alice active.
	if out := mustRun(t, "authority", "credentials", "reconcile", "--dir", auth, "--ledger-dir", led); !strings.Contains(out, `"revoked": null`) {
		t.Fatalf("reconcile with alice active: %s", out)
	}
	mustRun(t, "authority", "suspend", "--dir", auth, "--ledger-dir", led, "--id", "alice")
	if out := mustRun(t, "authority", "credentials", "reconcile", "--dir", auth, "--ledger-dir", led); !strings.Contains(out, list[0].ID) {
		t.Fatalf("reconcile after the suspension did not revoke %s: %s", list[0].ID, out)
	}
	list = nil
	_ = json.Unmarshal([]byte(mustRun(t, "authority", "credentials", "list", "--dir", auth, "-o", "json")), &list)
	if len(list) != 1 || !list[0].Revoked || !strings.Contains(list[0].Reason, "suspended") {
		t.Fatalf("after reconcile: %+v", list)
	}
	if _, err := runTDSC(t, "authority", "credentials", "issue", "--dir", auth, "--ledger-dir", led, "--id", "alice"); err == nil {
		t.Fatal("issued to a suspended participant")
	}
	if _, err := runTDSC(t, "authority", "credentials", "revoke", "--dir", auth, "--credential", "urn:uuid:nope"); err == nil {
		t.Fatal("revoked an unknown credential")
	}

	var doc dcp.Document
	out := mustRun(t, "keys", "did", "--key", key, "--did", aliceDID, "--credential-service", "https://alice.example.com/cs")
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	if _, err := dcp.ParseDocument([]byte(out), aliceDID); err != nil {
		t.Fatalf("keys did printed a document that does not parse: %v", err)
	}
	if ep, err := doc.ServiceEndpoint(dcp.ServiceCredential); err != nil || ep != "https://alice.example.com/cs" {
		t.Fatalf("CredentialService %q, %v", ep, err)
	}
}

// TestAuthorityCredentialsServe serves the authority's DID document and
// status list over HTTPS through the CLI and checks them with a DCP verifier:
// the list verifies, and after a suspension and the serve loop's reconcile,
// alice's bit is set.
func TestAuthorityCredentialsServe(t *testing.T) {
	dir := t.TempDir()
	auth, led := filepath.Join(dir, "auth"), filepath.Join(dir, "ledger")
	mustRun(t, "authority", "init", "--dir", auth, "--space", "space-dcp")
	jwkFile := writeFile(t, "alice.jwk", mustRun(t, "keys", "generate", "--out", filepath.Join(dir, "alice.key")))
	mustRun(t, "authority", "register", "--dir", auth, "--ledger-dir", led, "--id", "alice", "--name", "Alice Ltd",
		"--jwk", jwkFile, "--region", "CN-SH", "--industry", "finance", "--org-type", "enterprise", "--did", "did:web:alice.example.com")

	tc, pool, err := selfSignedLoopback()
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := writePEMPair(t, dir, tc)
	ln, err := net.Listen("tcp", "127.0.0.1:0") // a free port for the DID, released for serve
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	authDID, _ := dcp.WebDID("https://" + addr + "/authority")
	mustRun(t, "authority", "credentials", "issue", "--dir", auth, "--ledger-dir", led, "--id", "alice", "--did", authDID)

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		root := newRoot()
		root.SetOut(io.Discard)
		root.SetArgs([]string{"authority", "credentials", "serve", "--dir", auth, "--ledger-dir", led, "--addr", addr,
			"--tls-cert", certFile, "--tls-key", keyFile, "--reconcile", "50ms"})
		done <- root.ExecuteContext(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })

	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	res, _ := dcp.NewResolver(dcp.WithHTTPClient(hc))
	k, _ := identity.GenerateEd25519()
	sts, _ := dcp.NewSTS("did:web:verifier.example", k, 0, nil)
	v, err := dcp.NewVerifier(dcp.VerifierConfig{STS: sts, Resolver: res, Space: "space-dcp", Trusted: []string{authDID}, HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	statusURL := "https://" + addr + "/authority" + dcp.StatusPath
	bit := func() (bool, error) {
		r, err := hc.Get(statusURL)
		if err != nil {
			return false, err
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		l, err := v.ParseStatusList(t.Context(), string(b), statusURL, "revocation")
		if err != nil {
			return false, err
		}
		return l.Get(0)
	}
	deadline := time.Now().Add(10 * time.Second)
	var set bool
	for ; time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if set, err = bit(); err == nil {
			break
		}
	}
	if err != nil || set {
		t.Fatalf("status list before the suspension: set=%v, %v", set, err)
	}
	mustRun(t, "authority", "suspend", "--dir", auth, "--ledger-dir", led, "--id", "alice")
	for ; time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if set, err = bit(); err == nil && set {
			return
		}
	}
	t.Fatalf("alice's bit not set after the suspension: %v", err)
}

// writePEMPair writes tc's certificate and key as PEM files.
func writePEMPair(t *testing.T, dir string, tc *tls.Config) (string, string) {
	t.Helper()
	c := tc.Certificates[0]
	kb, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	cf, kf := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(cf, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kf, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cf, kf
}

// TestBenchTokensDCP: bench tokens reports the DCP figures beside the
// protocol ones, measured in the same run, in both suites.
func TestBenchTokensDCP(t *testing.T) {
	for _, s := range []string{"intl", "gm"} {
		var res map[string]any
		if err := json.Unmarshal([]byte(mustRun(t, "bench", "tokens", "-n", "100", "--suite", s, "-o", "json")), &res); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"dcpVerifyPerSecond", "dcpProtocolVerifyPerSecond", "dcpToProtocolCostRatio", "dcpUncachedVerifyPerSecond"} {
			if v, ok := res[k].(float64); !ok || v <= 0 {
				t.Errorf("%s: %s = %v", s, k, res[k])
			}
		}
	}
}

// TestAuthorityRegisterByDID: a participant that speaks only DCP joins with
// its DID document: its key is the document's, its id its DID, and a second
// participant claiming the same DID is refused by participant.did-unique.
func TestAuthorityRegisterByDID(t *testing.T) {
	dir := t.TempDir()
	auth, led := filepath.Join(dir, "auth"), filepath.Join(dir, "ledger")
	mustRun(t, "authority", "init", "--dir", auth, "--space", "space-dcp")
	key := filepath.Join(dir, "harbour.key")
	mustRun(t, "keys", "generate", "--out", key)
	const did = "did:web:harbour.example.com%3A8443" // a did:web with a port
	docFile := writeFile(t, "did.json", mustRun(t, "keys", "did", "--key", key, "--did", did, "--credential-service", "https://harbour.example.com:8443/cs"))
	if _, err := runTDSC(t, "authority", "register", "--dir", auth, "--ledger-dir", led, "--name", "Harbour", "--did-document", docFile,
		"--region", "CN-SH", "--industry", "logistics", "--org-type", "enterprise"); err == nil || !strings.Contains(err.Error(), "--did: required with --did-document") {
		t.Fatalf("--did-document without --did: %v", err)
	}
	if _, err := runTDSC(t, "authority", "register", "--dir", auth, "--ledger-dir", led, "--name", "Harbour", "--did-document", docFile,
		"--did", "did:web:other.example.com", "--region", "CN-SH", "--industry", "logistics", "--org-type", "enterprise"); err == nil || !strings.Contains(err.Error(), "--did-document") {
		t.Fatalf("a DID document of another DID: %v", err)
	}
	mustRun(t, "authority", "register", "--dir", auth, "--ledger-dir", led, "--name", "Harbour", "--did-document", docFile, "--did", did,
		"--region", "CN-SH", "--industry", "logistics", "--org-type", "enterprise")
	vc := strings.TrimSpace(mustRun(t, "authority", "credentials", "issue", "--dir", auth, "--ledger-dir", led, "--id", did, "--did", "did:web:authority.example.com"))
	c, err := dcp.ParseUnverifiedCredential(vc)
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject.ID != did || c.Subject.Participant != did || c.Subject.Region != "CN-SH" {
		t.Fatalf("credential subject %+v: want the participant registered by its DID", c.Subject)
	}
	other := writeFile(t, "other.jwk", mustRun(t, "keys", "generate", "--out", filepath.Join(dir, "other.key")))
	_, err = runTDSC(t, "authority", "register", "--dir", auth, "--ledger-dir", led, "--id", "other", "--name", "Other", "--jwk", other,
		"--did", did, "--region", "CN-SH", "--industry", "logistics", "--org-type", "enterprise")
	if err == nil || !strings.Contains(err.Error(), "participant.did-unique") || !strings.Contains(err.Error(), "the DID of participant "+did) {
		t.Fatalf("a second participant with the DID: %v, want participant.did-unique", err)
	}
}
