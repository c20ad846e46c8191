package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tdsc/tdsc/connector/dsp"
	"github.com/tdsc/tdsc/identity/dcp"
)

// TestServeWithDID: a node whose config names a did, trustedIssuers and its
// credential file serves its DID document at the did:web's address, its
// Credential Service (which refuses a query without a token), and a DCP
// entry in its dspace-version document; a config whose did is another host
// is refused at start, naming the field.
func TestServeWithDID(t *testing.T) {
	dir := t.TempDir()
	auth, led := filepath.Join(dir, "auth"), filepath.Join(dir, "ledger")
	mustRun(t, "authority", "init", "--dir", auth, "--space", "space-dcp")
	key := filepath.Join(dir, "node.key")
	jwkFile := writeFile(t, "node.jwk", mustRun(t, "keys", "generate", "--out", key))

	ln, err := net.Listen("tcp", "127.0.0.1:0") // a free port for the DID, released for serve
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	did, _ := dcp.WebDID("https://" + addr)
	mustRun(t, "authority", "register", "--dir", auth, "--ledger-dir", led, "--id", "port-authority", "--name", "Port authority",
		"--jwk", jwkFile, "--region", "CN-SH", "--industry", "logistics", "--org-type", "government", "--did", did)
	cred := filepath.Join(dir, "membership.jwt")
	mustRun(t, "authority", "credentials", "issue", "--dir", auth, "--ledger-dir", led, "--id", "port-authority",
		"--did", "did:web:authority.example.com", "--out", cred)

	tc, pool, err := selfSignedLoopback()
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := writePEMPair(t, dir, tc)
	tok := writeFile(t, "op.token", "operator-token-0123456789")
	config := func(did string) string {
		return writeFile(t, "node.yaml", strings.Join([]string{
			"participantId: port-authority", "space: space-dcp", "listen: " + addr, "dataDir: " + filepath.Join(dir, "data"),
			"keyFile: " + key, "operatorTokenFile: " + tok, "ledgerDir: " + led, "genesisFile: " + filepath.Join(auth, "genesis.json"),
			"tlsCertFile: " + certFile, "tlsKeyFile: " + keyFile, "did: " + did,
			"trustedIssuers: [did:web:authority.example.com]", "credentialFiles: [" + cred + "]", ""}, "\n"))
	}
	if _, err := runTDSC(t, "serve", "--config", config("did:web:elsewhere.example.com")); err == nil || !strings.Contains(err.Error(), "config: did:") {
		t.Fatalf("serve with the DID of another host: %v, want a refusal naming config: did", err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		root := newRoot()
		root.SetOut(io.Discard)
		root.SetErr(io.Discard)
		root.SetArgs([]string{"serve", "--config", config(did)})
		done <- root.ExecuteContext(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })

	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	get := func(path string) (int, []byte, error) {
		r, err := hc.Get("https://" + addr + path)
		if err != nil {
			return 0, nil, err
		}
		defer r.Body.Close()
		b, err := io.ReadAll(r.Body)
		return r.StatusCode, b, err
	}
	var body []byte
	deadline := time.Now().Add(15 * time.Second)
	for {
		st, b, err := get("/.well-known/did.json")
		if err == nil && st == 200 {
			body = b
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node's DID document: %d %s %v", st, b, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	doc, err := dcp.ParseDocument(body, did)
	if err != nil {
		t.Fatalf("the served DID document: %v\n%s", err, body)
	}
	cs, err := doc.ServiceEndpoint(dcp.ServiceCredential)
	if err != nil || cs != "https://"+addr+"/cs" {
		t.Fatalf("CredentialService %q, %v", cs, err)
	}
	if ep, err := doc.ServiceEndpoint(dcp.ServiceDSP); err != nil || ep != "https://"+addr {
		t.Fatalf("DSP service %q, %v", ep, err)
	}
	r, err := hc.Post(cs+dcp.PresentationsPath, "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a presentation query without a token: %d, want 401", r.StatusCode)
	}
	st, b, err := get(dsp.VersionPath)
	if err != nil || st != 200 {
		t.Fatalf("dspace-version: %d %s %v", st, b, err)
	}
	var v dsp.VersionResponse
	if err := json.Unmarshal(b, &v); err != nil || len(v.ProtocolVersions) != 2 || v.ProtocolVersions[1].Auth == nil ||
		v.ProtocolVersions[1].Auth.Protocol != dsp.AuthDCP || v.ProtocolVersions[1].ServiceID != did {
		t.Fatalf("dspace-version: %s", b)
	}
}
