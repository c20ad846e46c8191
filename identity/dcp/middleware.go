package dcp

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/tdsc/tdsc/identity"
)

// TokenKind implements identity.Claims: a verified DCP request plays the part
// of a protocol token (a connector-to-connector call).
func (r *Result) TokenKind() identity.Kind { return identity.KindProtocol }

// Caller implements identity.Claims: the participant's ledger id when the
// authority's credential names one, else its DID.
func (r *Result) Caller() string { return r.Participant.ID }

// FromContext returns the verified DCP caller a request's context carries
// (put there by RequireEither), if the caller authenticated with DCP.
func FromContext(ctx context.Context) (*Result, bool) {
	c, ok := identity.FromContext(ctx)
	if !ok {
		return nil, false
	}
	r, ok := c.(*Result)
	return r, ok
}

// IsTDSCToken reports whether a compact JWT's header names tdsc's protocol
// token type: the switch between the two schemes. It reads the header only;
// verification follows by the scheme chosen.
func IsTDSCToken(token string) bool {
	h, _, ok := strings.Cut(token, ".")
	if !ok || len(h) > 1024 {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return false
	}
	var hdr struct {
		Typ string `json:"typ"`
	}
	return json.Unmarshal(b, &hdr) == nil && hdr.Typ == identity.TypProtocol
}

// RequireEither is HTTP middleware for DSP calls accepting both schemes: a
// tdsc protocol token (typ tdsc-protocol+jwt) is verified by tdsc as
// identity.RequireProtocol does, against the ledger registry and addressed
// to self; any other bearer token by dcp as a self-issued ID token with its
// presentations (when d is nil, DCP is refused). The verified claims travel
// in the request's context (identity.FromContext; FromContext for the DCP
// caller's attributes). A refusal answers the reason with its status.
func RequireEither(tdsc *identity.Verifier, self string, d *Verifier) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			scheme, tok, ok := identity.Authorization(r)
			var c identity.Claims
			var err error
			switch {
			case !ok || scheme != identity.SchemeBearer:
				err = fmt.Errorf("%w: header Authorization: want \"Bearer <token>\"", identity.ErrMalformed)
			case IsTDSCToken(tok):
				c, err = tdsc.VerifyProtocol(r.Context(), tok, self)
			case d == nil:
				err = fmt.Errorf("%w: header typ: this node accepts tdsc protocol tokens only", identity.ErrWrongKind)
			default:
				c, err = d.Verify(r.Context(), tok)
			}
			if err != nil {
				w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
				http.Error(w, err.Error(), StatusCode(err))
				return
			}
			next.ServeHTTP(w, r.WithContext(identity.NewContext(r.Context(), c)))
		})
	}
}
