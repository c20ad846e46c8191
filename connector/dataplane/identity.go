package dataplane

import (
	"context"
	"errors"
	"fmt"

	"github.com/tdsc/tdsc/identity"
)

// IdentityVerifier adapts an identity.Verifier (built WithSelf(the issuer of
// the tokens this side accepts)) to TokenVerifier, mapping identity's errors
// to the data plane's refusal rules.
type IdentityVerifier struct {
	V *identity.Verifier
}

// VerifyAccess implements TokenVerifier.
func (iv IdentityVerifier) VerifyAccess(ctx context.Context, token, proof, method, url, audience string) (Grant, error) {
	c, err := iv.V.VerifyAccess(ctx, token, proof, method, url, audience)
	if err != nil {
		return Grant{}, identityError(err)
	}
	g := Grant{
		TokenID: c.ID, Issuer: c.Issuer, Subject: c.Subject,
		Agreement: c.Agreement, Dataset: c.Dataset, Transfer: c.Transfer,
	}
	if c.ExpiresAt != nil {
		g.Expiry = c.ExpiresAt.Time
	}
	if c.Cnf != nil {
		g.KeyThumbprint = c.Cnf.JKT
	}
	return g, nil
}

func identityError(err error) error {
	switch {
	case errors.Is(err, identity.ErrReplayCacheFull):
		return fmt.Errorf("%w: %w", ErrBusy, err)
	case errors.Is(err, identity.ErrExpired):
		return fmt.Errorf("%w: %w", ErrTokenExpired, err)
	case errors.Is(err, identity.ErrNoProof), errors.Is(err, identity.ErrBadProof), errors.Is(err, identity.ErrReplay):
		return fmt.Errorf("%w: %w", ErrProofInvalid, err)
	case errors.Is(err, identity.ErrWrongAgreement):
		return fmt.Errorf("%w: %w", ErrWrongDataset, err)
	}
	return fmt.Errorf("%w: %w", ErrTokenInvalid, err)
}

// ProofFunc makes the DPoP proof for one request (method and URL); a client
// calls it for every request, as each proof is single-use.
type ProofFunc func(method, url string) (string, error)

// KeyProof is the ProofFunc of a key holder for one access token.
func KeyProof(key *identity.Key, accessToken string) ProofFunc {
	return func(method, url string) (string, error) {
		return identity.DPoPProof(key, method, url, accessToken)
	}
}
