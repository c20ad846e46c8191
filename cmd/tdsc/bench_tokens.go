package main

import (
	"context"
	"crypto/ecdsa"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"runtime"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/spf13/cobra"

	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/suite"
)

type tokensBenchResult struct {
	Suite                   string  `json:"suite"`
	Alg                     string  `json:"alg"`
	Tokens                  int     `json:"tokens"`
	Cores                   int     `json:"cores"`
	SignPerSecond           float64 `json:"signPerSecond"`
	VerifyPerSecond         float64 `json:"verifyPerSecond"`
	VerifyPerSecondParallel float64 `json:"verifyPerSecondParallel"`
	AccessVerifyPerSecond   float64 `json:"accessVerifyPerSecond"`
	BaselinePerSecond       float64 `json:"baselineSignatureVerifyPerSecond"`
	VerifyToBaseline        float64 `json:"verifyToBaselineRatio"`
	// In the gm suite, the same full verification of Ed25519 tokens, timed in
	// the same rounds, and SM2's rate over it.
	Ed25519VerifyPerSecond float64 `json:"ed25519VerifyPerSecond,omitempty"`
	SM2ToEd25519           float64 `json:"sm2ToEd25519Ratio,omitempty"`
	// DCP: a DCP-authenticated request (ID token; DID document, presentation
	// and status list cached) against a protocol token verify, interleaved.
	DCPVerifyPerSecond   float64 `json:"dcpVerifyPerSecond"`
	DCPProtocolPerSecond float64 `json:"dcpProtocolVerifyPerSecond"`
	DCPToProtocol        float64 `json:"dcpToProtocolCostRatio"`
	DCPUncachedPerSecond float64 `json:"dcpUncachedVerifyPerSecond"`
}

func newBenchTokensCmd() *cobra.Command {
	var (
		n         int
		alg, out  string
		suiteName string
	)
	cmd := &cobra.Command{
		Use:   "tokens [-n N] [--suite intl|gm] [--alg EdDSA|ES256] [-o json]",
		Short: "Sign and fully verify protocol and access tokens; compare with a bare signature check",
		Long: `Signs N protocol tokens (each with a fresh jti) and verifies them in full:
size limit, header checks, registry lookup of the issuer's key by kid (cached,
as in a running node), signature, audience, issuer, times, lifetime and the jti
replay cache. verifyPerSecond is one goroutine (one core); the parallel figure
uses every core. accessVerifyPerSecond verifies an access token with a fresh
DPoP proof per request (two signatures, two registry lookups). The baseline is
a bare signature check of the same key type over a message of token size.

--suite gm signs with SM2 (SM3withSM2); its baseline is one bare call of the
same library (gmsm's sm2.VerifyASN1WithSM2, default user id, the signature
pre-encoded), and the same full verification of Ed25519 tokens runs in the
same rounds, giving the SM2:Ed25519 ratio.

The DCP figures (in the suite's keys: SM3withSM2 in gm) run a Decentralized Claims Protocol space on loopback HTTPS
(authority, holder, verifier) and verify N self-issued ID token requests
with the holder's DID document, verified presentation and the status list
cached (the ID token's signature, claims and jti are checked and the status
bit read per request), interleaved with N fresh protocol token verifies;
the ratio is the cost of one over the other (budget: at most 3). The
"presentation fetched" figure fetches and verifies the presentation and the
status list from the holder's Credential Service on every request.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if n <= 0 {
				return fmt.Errorf("flag -n: must be positive, got %d", n)
			}
			cs, err := suite.Lookup(suiteName)
			if err != nil {
				return fmt.Errorf("flag --suite: %w", err)
			}
			res, err := benchTokens(cmd.Context(), n, cs, alg)
			if err != nil {
				return err
			}
			if out == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(res)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintf(w, "suite\t%s\nalg\t%s\ntokens\t%d\ncores\t%d\n", res.Suite, res.Alg, res.Tokens, res.Cores)
			fmt.Fprintf(w, "sign/s\t%.0f\nverify/s (1 core)\t%.0f\nverify/s (%d cores)\t%.0f\n", res.SignPerSecond, res.VerifyPerSecond, res.Cores, res.VerifyPerSecondParallel)
			fmt.Fprintf(w, "access+DPoP verify/s (1 core)\t%.0f\nbaseline signature verify/s\t%.0f\nverify / baseline\t%.2f\n", res.AccessVerifyPerSecond, res.BaselinePerSecond, res.VerifyToBaseline)
			if res.SM2ToEd25519 > 0 {
				fmt.Fprintf(w, "Ed25519 verify/s (same rounds)\t%.0f\nSM2 / Ed25519\t%.2f\n", res.Ed25519VerifyPerSecond, res.SM2ToEd25519)
			}
			fmt.Fprintf(w, "DCP request verify/s (cached, 1 core)\t%.0f\nprotocol verify/s (same rounds)\t%.0f\nDCP cost / protocol cost\t%.2f (budget 3)\nDCP request verify/s (presentation fetched)\t%.0f\n",
				res.DCPVerifyPerSecond, res.DCPProtocolPerSecond, res.DCPToProtocol, res.DCPUncachedPerSecond)
			return w.Flush()
		},
	}
	cmd.Flags().IntVarP(&n, "tokens", "n", 20000, "tokens to sign and verify")
	cmd.Flags().StringVar(&alg, "alg", "", "issuer key algorithm within the suite: EdDSA (intl default) or ES256; gm: SM3withSM2")
	cmd.Flags().StringVar(&suiteName, "suite", "intl", "crypto suite: intl or gm")
	cmd.Flags().StringVarP(&out, "output", "o", "text", "output format: text or json")
	return cmd
}

func benchTokens(ctx context.Context, n int, cs *suite.Suite, alg string) (*tokensBenchResult, error) {
	if alg != "" && !cs.AllowsAlg(alg) {
		return nil, fmt.Errorf("flag --alg: the %s suite signs with %v, got %q", cs, cs.Algorithms(), alg)
	}
	gen := func() (*identity.Key, error) { return identity.Generate(cs, alg) }
	callerKey, err := gen()
	if err != nil {
		return nil, err
	}
	consumerKey, err := gen()
	if err != nil {
		return nil, err
	}
	alg = callerKey.JWK().Algorithm()
	src := identity.NewMemorySource(
		identity.Participant{ID: "caller", Name: "caller", Keys: []identity.JWK{callerKey.JWK()}, Region: "CN-BJ", Status: identity.StatusActive},
		identity.Participant{ID: "consumer", Name: "consumer", Keys: []identity.JWK{consumerKey.JWK()}, Region: "CN-SH", Status: identity.StatusActive},
	)
	reg := identity.NewRegistry(src)
	caller, err := identity.NewIssuer("caller", callerKey)
	if err != nil {
		return nil, err
	}
	res := &tokensBenchResult{Suite: cs.Name(), Alg: alg, Tokens: n, Cores: runtime.GOMAXPROCS(0)}

	toks := make([]string, n)
	start := time.Now()
	for i := range toks {
		if toks[i], err = caller.ProtocolToken("callee"); err != nil {
			return nil, err
		}
	}
	res.SignPerSecond = rate(n, time.Since(start))

	newVerifier := func() (*identity.Verifier, error) {
		return identity.NewVerifier(reg, identity.WithSelf("caller"), identity.WithReplayCapacity(2*n+16), identity.WithSuite(cs))
	}
	v, err := newVerifier()
	if err != nil {
		return nil, err
	}
	if _, err := v.VerifyProtocol(ctx, toks[0], "callee"); err != nil { // warm the registry cache
		return nil, err
	}
	// Full verification and the bare signature baseline run interleaved in
	// ten rounds, so that a change in machine load hits both alike.
	parts := splitJWS(toks[0])
	msg, sig := []byte(parts[0]+"."+parts[1]), mustB64(parts[2])
	jwk := callerKey.JWK()
	baseline := func() error { return jwk.VerifyDetached(msg, sig) }
	var edToks []string
	var edVerifier *identity.Verifier
	if cs == suite.GM {
		if baseline, err = bareSM2Verify(jwk, msg, sig); err != nil {
			return nil, err
		}
		if edToks, edVerifier, err = ed25519Tokens(ctx, n); err != nil {
			return nil, err
		}
	}
	var verifyTime, baseTime, edTime time.Duration
	const rounds = 10
	for r := range rounds {
		lo, hi := 1+r*(n-1)/rounds, 1+(r+1)*(n-1)/rounds
		start := time.Now()
		for _, t := range toks[lo:hi] {
			if _, err := v.VerifyProtocol(ctx, t, "callee"); err != nil {
				return nil, err
			}
		}
		verifyTime += time.Since(start)
		start = time.Now()
		for range hi - lo {
			if err := baseline(); err != nil {
				return nil, fmt.Errorf("baseline: %w", err)
			}
		}
		baseTime += time.Since(start)
		if edToks != nil {
			start = time.Now()
			for _, t := range edToks[lo:hi] {
				if _, err := edVerifier.VerifyProtocol(ctx, t, "callee"); err != nil {
					return nil, err
				}
			}
			edTime += time.Since(start)
		}
	}
	res.VerifyPerSecond = rate(n-1, verifyTime)
	res.BaselinePerSecond = rate(n-1, baseTime)
	res.VerifyToBaseline = res.VerifyPerSecond / res.BaselinePerSecond
	if edToks != nil {
		res.Ed25519VerifyPerSecond = rate(n-1, edTime)
		res.SM2ToEd25519 = res.VerifyPerSecond / res.Ed25519VerifyPerSecond
	}

	// Parallel: a second verifier over the same tokens, split across cores.
	pv, err := newVerifier()
	if err != nil {
		return nil, err
	}
	var wg sync.WaitGroup
	errs := make(chan error, res.Cores)
	start = time.Now()
	for w := range res.Cores {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += res.Cores {
				if _, err := pv.VerifyProtocol(ctx, toks[i], "callee"); err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	res.VerifyPerSecondParallel = rate(n, time.Since(start))

	// Access tokens with a fresh DPoP proof per request.
	acc, err := caller.AccessToken(identity.AccessGrant{Consumer: "consumer", Audience: "caller/data", Agreement: "agr-1",
		Dataset: "ds-1", Transfer: "tr-1", ConsumerKeyThumbprint: consumerKey.KeyID()})
	if err != nil {
		return nil, err
	}
	const url = "https://caller.example/data/tr-1"
	m := max(n/4, 1)
	proofs := make([]string, m)
	for i := range proofs {
		if proofs[i], err = identity.DPoPProof(consumerKey, "GET", url, acc); err != nil {
			return nil, err
		}
	}
	start = time.Now()
	for _, p := range proofs {
		if _, err := v.VerifyAccess(ctx, acc, p, "GET", url, "caller/data"); err != nil {
			return nil, err
		}
	}
	res.AccessVerifyPerSecond = rate(m, time.Since(start))

	// DCP against protocol tokens, on fresh protocol tokens, both signed
	// with the suite's keys (SM3withSM2 in gm).
	{
		fresh := make([]string, n)
		for i := range fresh {
			if fresh[i], err = caller.ProtocolToken("callee"); err != nil {
				return nil, err
			}
		}
		dv, err := newVerifier()
		if err != nil {
			return nil, err
		}
		protoVerify := func(t string) error { _, err := dv.VerifyProtocol(ctx, t, "callee"); return err }
		if err := benchDCP(ctx, n, gen, protoVerify, fresh, res); err != nil {
			return nil, err
		}
	}

	return res, nil
}

// bareSM2Verify is the gm baseline: one call of gmsm's own SM2 verification
// (GB/T 32918.2, default user id) over the token's signing input, the
// signature pre-encoded in the ASN.1 form the library takes.
func bareSM2Verify(jwk identity.JWK, msg, sig []byte) (func() error, error) {
	pub, err := jwk.PublicKey()
	if err != nil {
		return nil, err
	}
	ec, _ := pub.(*ecdsa.PublicKey)
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	der, err := asn1.Marshal(struct{ R, S *big.Int }{r, s})
	if err != nil {
		return nil, err
	}
	return func() error {
		if !sm2.VerifyASN1WithSM2(ec, nil, msg, der) {
			return identity.ErrBadSignature
		}
		return nil
	}, nil
}

// ed25519Tokens are n Ed25519 protocol tokens and a verifier that has seen
// the first: the intl comparison of a gm run.
func ed25519Tokens(ctx context.Context, n int) ([]string, *identity.Verifier, error) {
	k, err := identity.GenerateEd25519()
	if err != nil {
		return nil, nil, err
	}
	reg := identity.NewRegistry(identity.NewMemorySource(identity.Participant{ID: "caller", Name: "caller", Keys: []identity.JWK{k.JWK()}, Region: "CN-BJ", Status: identity.StatusActive}))
	iss, err := identity.NewIssuer("caller", k)
	if err != nil {
		return nil, nil, err
	}
	toks := make([]string, n)
	for i := range toks {
		if toks[i], err = iss.ProtocolToken("callee"); err != nil {
			return nil, nil, err
		}
	}
	v, err := identity.NewVerifier(reg, identity.WithSelf("caller"), identity.WithReplayCapacity(2*n+16))
	if err != nil {
		return nil, nil, err
	}
	if _, err := v.VerifyProtocol(ctx, toks[0], "callee"); err != nil {
		return nil, nil, err
	}
	return toks, v, nil
}

func rate(n int, d time.Duration) float64 { return float64(n) / d.Seconds() }

// splitJWS splits a compact JWS into header, payload and signature.
func splitJWS(tok string) []string { return strings.SplitN(tok, ".", 3) }

func mustB64(s string) []byte {
	b, _ := base64.RawURLEncoding.DecodeString(s)
	return b
}
