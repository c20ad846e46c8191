package connector_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tdsc/tdsc/connector"
	"github.com/tdsc/tdsc/connector/dataplane"
	"github.com/tdsc/tdsc/connector/dataplane/pull"
)

// newTestTLS writes a CA certificate and a certificate for 127.0.0.1 it
// signed (ECDSA P-256, one hour) into dir.
func newTestTLS(t *testing.T, dir string) *testTLS {
	t.Helper()
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tdsc test space CA"},
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &leafKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(leafKey)
	if err != nil {
		t.Fatal(err)
	}
	return &testTLS{ca: write("ca.pem", "CERTIFICATE", caDER), cert: write("node.pem", "CERTIFICATE", leafDER), key: write("node.key", "EC PRIVATE KEY", keyDER)}
}

// TestNodesOverTLS: two nodes serve HTTPS with certificates of the space's
// own CA (tlsCaFile); they negotiate, the provider pushes and the consumer
// pulls over TLS, and a client that does not trust the CA is refused.
func TestNodesOverTLS(t *testing.T) {
	s := newSpace(t)
	s.tls = newTestTLS(t, t.TempDir())
	pk := s.register("did:tdsc:transport-bureau", "CN-BJ", "government")
	ck := s.register("did:tdsc:research-lab", "CN-SH", "research")
	prov := s.node("did:tdsc:transport-bureau", pk, "", "")
	cons := s.node("did:tdsc:research-lab", ck, "", "")
	if !strings.HasPrefix(prov.url(), "https://") {
		t.Fatalf("publicUrl %s, want https", prov.url())
	}
	ctx := context.Background()
	data, offerID := pushProvider(t, prov, 3<<20, false)
	ag := agree(t, prov, cons, offerID)

	x, err := cons.StartTransfer(ctx, ag, "HttpData-PUSH")
	if err != nil {
		t.Fatal(err)
	}
	waitTransfer(t, cons, x.ID, "COMPLETED")
	if got, _ := os.ReadFile(cons.ReceivedPath(x.ID)); len(got) != len(data) {
		t.Fatalf("pushed over TLS: %d bytes, want %d", len(got), len(data))
	}

	x, err = cons.StartTransfer(ctx, ag, "")
	if err != nil {
		t.Fatal(err)
	}
	cx := waitTransfer(t, cons, x.ID, "STARTED")
	addr := dataAddress(t, cx)
	if !strings.HasPrefix(addr.Endpoint, "https://") {
		t.Fatalf("data address %s, want https", addr.Endpoint)
	}
	tok := addr.Property("authorization")
	tc, err := connector.ClientTLS(s.tls.ca)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "big.bin")
	if _, err := pull.Download(ctx, addr.Endpoint, tok, dataplane.KeyProof(cons.key, tok), out, pull.WithTLS(tc)); err != nil {
		t.Fatalf("pull over TLS: %v", err)
	}
	if got, _ := os.ReadFile(out); len(got) != len(data) {
		t.Fatalf("pulled %d bytes, want %d", len(got), len(data))
	}
	_, err = pull.Download(ctx, addr.Endpoint, tok, dataplane.KeyProof(cons.key, tok), out+".2")
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("pull by a client that does not trust the space's CA: %v, want a certificate error", err)
	}
}

func TestTLSConfig(t *testing.T) {
	dir := t.TempDir()
	tt := newTestTLS(t, dir)
	for _, c := range []struct {
		name string
		cfg  connector.Config
		want string
	}{
		{"cert without key", connector.Config{TLSCertFile: tt.cert}, "tlsCertFile/tlsKeyFile"},
		{"key without cert", connector.Config{TLSKeyFile: tt.key}, "tlsCertFile/tlsKeyFile"},
	} {
		c.cfg.ParticipantID, c.cfg.Space = "p", "s"
		if err := c.cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Validate() = %v, want it to name %s", c.name, err, c.want)
		}
	}
	if _, err := (connector.Config{TLSCertFile: tt.ca, TLSKeyFile: tt.key}).ServerTLS(); err == nil {
		t.Error("ServerTLS accepted a certificate that does not match the key")
	}
	if _, err := connector.ClientTLS(tt.key); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("ClientTLS of a key file: %v", err)
	}
	if _, err := connector.ClientTLS(filepath.Join(dir, "missing.pem")); err == nil || !strings.Contains(err.Error(), "tlsCaFile") {
		t.Errorf("ClientTLS of a missing file: %v", err)
	}
	cfg := connector.Config{ParticipantID: "p", Space: "s", Listen: "127.0.0.1:8443", TLSCertFile: tt.cert, TLSKeyFile: tt.key}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}
