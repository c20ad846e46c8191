package service

import (
	"context"
	"errors"
	"net/http"
	"strings"

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
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || tok == "" {
			return Principal{}, errors.New("header Authorization: a Bearer role token is required")
		}
		c, err := v.VerifyRole(r.Context(), tok, aud)
		if err != nil {
			return Principal{}, err
		}
		p := Principal{Role: c.Role}
		if c.Role == RoleParticipant {
			p.Participant = c.Subject
		}
		return p, nil
	}
}
