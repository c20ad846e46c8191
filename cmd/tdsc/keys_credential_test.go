package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"crypto/tls"

	"github.com/tdsc/tdsc/identity/dcp"
)

// freeAddr is a free loopback address (released for the command to take).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestKeysCredential: a node that joined with its DID alone obtains its
// membership credential through the authority's Issuer Service (authority
// credentials serve) with keys credential; once the ledger shows it
// suspended, its next request is rejected with the reason.
func TestKeysCredential(t *testing.T) {
	dir := t.TempDir()
	auth, led := filepath.Join(dir, "auth"), filepath.Join(dir, "ledger")
	mustRun(t, "authority", "init", "--dir", auth, "--space", "space-dcp")
	tc, _, err := selfSignedLoopback()
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := writePEMPair(t, dir, tc)
	t.Setenv("TDSC_TLS_CA_FILE", certFile) // the space CA, for the issuer and the holder alike

	holderAddr := freeAddr(t)
	key := filepath.Join(dir, "harbour.key")
	jwk := writeFile(t, "harbour.jwk", mustRun(t, "keys", "generate", "--out", key))
	did, _ := dcp.WebDID("https://" + holderAddr + "/harbour")
	// Registered under a tdsc id with its DID (a did:web with a port cannot be
	// a participant id: ids allow no "%"); the Issuer Service finds it by DID.
	mustRun(t, "authority", "register", "--dir", auth, "--ledger-dir", led, "--id", "harbour", "--name", "Harbour", "--jwk", jwk, "--did", did,
		"--region", "CN-SH", "--industry", "logistics", "--org-type", "enterprise")

	authAddr := freeAddr(t)
	authDID, _ := dcp.WebDID("https://" + authAddr + "/authority")
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		root := newRoot()
		root.SetOut(io.Discard)
		root.SetArgs([]string{"authority", "credentials", "serve", "--dir", auth, "--did", authDID, "--ledger-dir", led, "--addr", authAddr,
			"--tls-cert", certFile, "--tls-key", keyFile, "--reconcile", "50ms"})
		done <- root.ExecuteContext(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
	ctc, _ := cliTLS()
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ctc.RootCAs}}}
	docURL, _ := dcp.WebURL(authDID)
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := hc.Get(docURL)
		if err == nil {
			b, _ := io.ReadAll(r.Body)
			r.Body.Close()
			doc, err := dcp.ParseDocument(b, authDID)
			if err != nil {
				t.Fatal(err)
			}
			if ep, err := doc.ServiceEndpoint(dcp.ServiceIssuer); err != nil || ep != "https://"+authAddr+"/authority/issuer" {
				t.Fatalf("IssuerService entry %q, %v", ep, err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("authority not serving: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	out := filepath.Join(dir, "harbour.vc")
	args := []string{"keys", "credential", "--key", key, "--did", did, "--issuer", authDID, "--addr", holderAddr,
		"--tls-cert", certFile, "--tls-key", keyFile, "--out", out, "--wait", "10s"}
	mustRun(t, args...)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	c, err := dcp.ParseUnverifiedCredential(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject.ID != did || c.Issuer != authDID || c.Subject.Industry != "logistics" {
		t.Fatalf("credential %+v: want the authority's, about %s with the ledger's attributes", c.Subject, did)
	}
	// The authority's records (credentials.json) hold it.
	if list := mustRun(t, "authority", "credentials", "list", "--dir", auth, "--id", "harbour"); !strings.Contains(list, c.CredID) {
		t.Fatalf("authority credentials list lacks %s:\n%s", c.CredID, list)
	}

	mustRun(t, "authority", "suspend", "--dir", auth, "--ledger-dir", led, "--id", "harbour")
	_, err = runTDSC(t, args...)
	if err == nil || !strings.Contains(err.Error(), "rejected") || !strings.Contains(err.Error(), "suspended") {
		t.Fatalf("request while suspended: %v, want a rejection naming the suspension", err)
	}
}
