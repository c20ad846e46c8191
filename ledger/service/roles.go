package service

import (
	"context"
	"errors"
	"net/http"

	"github.com/tdsc/tdsc/identity"
)

// RoleVerifier verifies a role token for an audience (identity.Verifier does).
type RoleVerifier interface {
	VerifyRole(ctx context.Context, token, wantAud string) (*identity.RoleClaims, error)
}

// RoleTokens is the ReadAuthorizer of `tdsc ledger serve`: a bearer role
// token verified by v for audience aud (auditor and regulator tokens signed
// by the authority, participant tokens self-signed with a registered key).
func RoleTokens(v RoleVerifier, aud string) ReadAuthorizer {
	return func(r *http.Request) (Principal, error) {
		scheme, tok, ok := identity.Authorization(r)
		if !ok || scheme != identity.SchemeBearer {
			return Principal{}, errors.New("header Authorization: a Bearer role token is required")
		}
		c, err := v.VerifyRole(r.Context(), tok, aud)
		if err != nil {
			return Principal{}, err
		}
		return identity.PrincipalOf(c), nil
	}
}
