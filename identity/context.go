package identity

import (
	"context"
	"net/http"
	"strings"
)

// Claims are verified token claims as they travel in a request's context.
// *ProtocolClaims, *AccessClaims and *RoleClaims implement it.
type Claims interface {
	// TokenKind is the kind of token the claims came from.
	TokenKind() Kind
	// Caller is the participant the request acts for: sub.
	Caller() string
}

// TokenKind implements Claims.
func (c *ProtocolClaims) TokenKind() Kind { return KindProtocol }

// Caller implements Claims: the calling participant.
func (c *ProtocolClaims) Caller() string { return c.Subject }

// TokenKind implements Claims.
func (c *AccessClaims) TokenKind() Kind { return KindAccess }

// Caller implements Claims: the consumer.
func (c *AccessClaims) Caller() string { return c.Subject }

// TokenKind implements Claims.
func (c *RoleClaims) TokenKind() Kind { return KindRole }

// Caller implements Claims: the auditor, regulator or participant.
func (c *RoleClaims) Caller() string { return c.Subject }

type claimsKey struct{}

// NewContext returns ctx carrying verified claims.
func NewContext(ctx context.Context, c Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

// FromContext returns the verified claims ctx carries, if any.
func FromContext(ctx context.Context) (Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(Claims)
	return c, ok && c != nil
}

// Authorization schemes a request may present a token with.
const (
	SchemeBearer = "Bearer" // RFC 6750
	SchemeDPoP   = "DPoP"   // RFC 9449: a DPoP-bound access token
)

// Authorization parses r's "Authorization: <scheme> <token>" header: the one
// parser of it in tdsc. The scheme is matched case-insensitively (RFC 7235
// §2.1) and returned as SchemeBearer or SchemeDPoP; ok is false when the
// header is absent, has another scheme, or carries no token.
func Authorization(r *http.Request) (scheme, token string, ok bool) {
	s, tok, _ := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	tok = strings.TrimSpace(tok)
	switch {
	case tok == "":
		return "", "", false
	case strings.EqualFold(s, SchemeBearer):
		return SchemeBearer, tok, true
	case strings.EqualFold(s, SchemeDPoP):
		return SchemeDPoP, tok, true
	}
	return "", "", false
}

// BearerToken is the token of an "Authorization: Bearer <token>" header, or
// "" when there is none. The DPoP scheme ("Authorization: DPoP <token>") is
// accepted too.
func BearerToken(r *http.Request) string {
	_, tok, _ := Authorization(r)
	return tok
}

// RequireProtocol is HTTP middleware for connector-to-connector (DSP) calls:
// it verifies the protocol token in "Authorization: Bearer" addressed to self,
// answers with the reason and the status of StatusCode on failure,
// and otherwise passes the request on with the claims in its context.
func RequireProtocol(v *Verifier, self string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := v.VerifyProtocol(r.Context(), BearerToken(r), self)
			if err != nil {
				status := StatusCode(err)
				w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
				http.Error(w, err.Error(), status)
				return
			}
			next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), c)))
		})
	}
}
