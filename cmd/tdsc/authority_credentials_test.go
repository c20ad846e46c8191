package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

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
