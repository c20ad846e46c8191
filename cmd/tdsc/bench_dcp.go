package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"time"

	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/identity/dcp"
)

// dcpBench is a DCP space on loopback HTTPS (a throwaway self-signed
// certificate plays the space CA): the authority issuing alice's membership
// credential and serving its status list, alice's DID document and
// Credential Service, and bob's verifier.
type dcpBench struct {
	srv        *http.Server
	registry   *identity.Registry
	alice, bob *dcp.STS
	verifier   func(cacheTTL time.Duration) (*dcp.Verifier, error)
}

func newDCPBench(gen func() (*identity.Key, error)) (*dcpBench, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	tc, pool, err := selfSignedLoopback()
	if err != nil {
		return nil, err
	}
	base := "https://" + ln.Addr().String()
	mux := http.NewServeMux()
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	res, err := dcp.NewResolver(dcp.WithHTTPClient(hc))
	if err != nil {
		return nil, err
	}
	node := func(name string) (*dcp.STS, *dcp.CredentialService, *identity.Key, error) {
		k, err := gen()
		if err != nil {
			return nil, nil, nil, err
		}
		did, _ := dcp.WebDID(base + "/" + name)
		doc, err := dcp.NewDocument(did, k.JWK(), dcp.Service{ID: "cs", Type: dcp.ServiceCredential, ServiceEndpoint: base + "/" + name + "/cs"})
		if err != nil {
			return nil, nil, nil, err
		}
		sts, err := dcp.NewSTS(did, k, 0, nil)
		if err != nil {
			return nil, nil, nil, err
		}
		cs := dcp.NewCredentialService(sts, res)
		mux.Handle("/"+name+"/did.json", dcp.DocumentHandler(doc))
		mux.Handle("/"+name+"/cs/", http.StripPrefix("/"+name+"/cs", cs.Handler()))
		return sts, cs, k, nil
	}
	auth, _, authKey, err := node("authority")
	if err != nil {
		return nil, err
	}
	b := &dcpBench{}
	var aliceCS *dcp.CredentialService
	if b.alice, aliceCS, _, err = node("alice"); err != nil {
		return nil, err
	}
	if b.bob, _, _, err = node("bob"); err != nil {
		return nil, err
	}
	iss, err := dcp.NewCredentialIssuer(dcp.IssuerConfig{DID: auth.DID(), Key: authKey, Space: "bench", StatusURL: base + "/authority" + dcp.StatusPath}, nil)
	if err != nil {
		return nil, err
	}
	mux.Handle("/authority"+dcp.StatusPath, http.StripPrefix("/authority", iss.Handler()))
	alice := identity.Participant{ID: "alice", DID: b.alice.DID(), Region: "CN-SH", Status: identity.StatusActive}
	src := identity.NewMemorySource()
	src.Put(alice)
	b.registry = identity.NewRegistry(src)
	ic, err := iss.Issue(alice)
	if err != nil {
		return nil, err
	}
	if err := aliceCS.Store(ic.JWT); err != nil {
		return nil, err
	}
	b.srv = &http.Server{Handler: mux, TLSConfig: tc, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}
	go func() { _ = b.srv.ServeTLS(ln, "", "") }()
	b.verifier = func(ttl time.Duration) (*dcp.Verifier, error) {
		return dcp.NewVerifier(dcp.VerifierConfig{STS: b.bob, Resolver: res, Space: "bench", Trusted: []string{auth.DID()}, HTTPClient: hc, CacheTTL: ttl})
	}
	return b, nil
}

func (b *dcpBench) Close(ctx context.Context) error { return b.srv.Shutdown(ctx) }

// selfSignedLoopback is a TLS configuration for 127.0.0.1 and the pool that trusts it.
func selfSignedLoopback() (*tls.Config, *x509.CertPool, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tdsc bench"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: k}}, MinVersion: tls.VersionTLS12}, pool, nil
}

// benchDCP measures a DCP-authenticated request at bob's verifier against a
// tdsc protocol token verification, interleaved in rounds: the steady state
// (alice's DID document, verified presentation and the status list cached;
// the ID token's signature, claims and jti checked, the status bit read per
// request), and, for information, a request whose presentation is fetched
// from alice's Credential Service over loopback HTTPS and verified in full.
func benchDCP(ctx context.Context, n int, gen func() (*identity.Key, error), protoVerify func(string) error, protoToks []string, res *tokensBenchResult) error {
	b, err := newDCPBench(gen)
	if err != nil {
		return fmt.Errorf("dcp bench: %w", err)
	}
	defer b.Close(ctx)
	v, err := b.verifier(time.Hour)
	if err != nil {
		return err
	}
	mint := func(k int) ([]string, error) {
		toks := make([]string, k)
		for i := range toks {
			var err error
			if toks[i], err = b.alice.Request(b.bob.DID(), dcp.ScopeMembership); err != nil {
				return nil, err
			}
		}
		return toks, nil
	}
	toks, err := mint(n + 1)
	if err != nil {
		return err
	}
	// Each request as the connector authenticates it: the token and the
	// cached presentation, then the ledger registry's (cached) entry.
	verify := func(t string) error { _, err := v.VerifyRegistered(ctx, t, b.registry); return err }
	if err := verify(toks[n]); err != nil { // fetch and verify the presentation once
		return fmt.Errorf("dcp bench: first request: %w", err)
	}
	var dcpTime, protoTime time.Duration
	const rounds = 10
	for r := range rounds {
		lo, hi := r*n/rounds, (r+1)*n/rounds
		start := time.Now()
		for _, t := range toks[lo:hi] {
			if err := verify(t); err != nil {
				return fmt.Errorf("dcp bench: %w", err)
			}
		}
		dcpTime += time.Since(start)
		start = time.Now()
		for _, t := range protoToks[lo:hi] {
			if err := protoVerify(t); err != nil {
				return err
			}
		}
		protoTime += time.Since(start)
	}
	res.DCPVerifyPerSecond = rate(n, dcpTime)
	res.DCPProtocolPerSecond = rate(n, protoTime)
	res.DCPToProtocol = dcpTime.Seconds() / protoTime.Seconds()

	full, err := b.verifier(time.Nanosecond)
	if err != nil {
		return err
	}
	m := max(n/50, 1)
	if toks, err = mint(m); err != nil {
		return err
	}
	start := time.Now()
	for _, t := range toks {
		if _, err := full.VerifyRegistered(ctx, t, b.registry); err != nil {
			return fmt.Errorf("dcp bench: uncached: %w", err)
		}
	}
	res.DCPUncachedPerSecond = rate(m, time.Since(start))
	return nil
}
