package identity

import (
	"crypto/rand"
	"encoding/base64"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tdsc/tdsc/suite"
)

// Kind names a token kind. Each kind has its own typ header and carries its
// kind in the tkn claim, and every verifier checks both, so a token of one kind
// can never pass as another.
type Kind string

// Token kinds.
const (
	KindProtocol Kind = "protocol"
	KindAccess   Kind = "access"
	KindRole     Kind = "role"
)

// JOSE typ headers of each kind; DPoP proofs use "dpop+jwt" (RFC 9449).
const (
	TypProtocol = "tdsc-protocol+jwt"
	TypAccess   = "tdsc-access+jwt"
	TypRole     = "tdsc-role+jwt"
	TypDPoP     = "dpop+jwt"
)

func (k Kind) typ() string {
	switch k {
	case KindProtocol:
		return TypProtocol
	case KindAccess:
		return TypAccess
	case KindRole:
		return TypRole
	}
	return ""
}

// Roles a role token may carry. Auditor and regulator tokens are issued by the
// authority; a participant token is self-signed by a participant with its own
// registered key and lets it read the ledger records that concern it.
const (
	RoleAuditor     = "auditor"
	RoleRegulator   = "regulator"
	RoleParticipant = "participant"
)

// Limits of the token kinds.
const (
	// MaxProtocolTTL is the longest life of a protocol token (exp - iat).
	MaxProtocolTTL = 5 * time.Minute
	// DefaultAccessTTL is an access token's life when the grant names none.
	DefaultAccessTTL = 10 * time.Minute
	// MaxAccessTTL is the longest life of an access token.
	MaxAccessTTL = time.Hour
	// DefaultLeeway is the clock skew tolerated between parties.
	DefaultLeeway = 30 * time.Second
	// MaxTokenBytes is the default size above which a token is refused unparsed.
	MaxTokenBytes = 8 << 10
	// DPoPMaxAge is how old a DPoP proof (by its iat) may be.
	DPoPMaxAge = time.Minute
)

// AllowedAlgorithms is the allow-list of JWS algorithms of an intl space's
// verifiers; a gm space's verifiers (WithSuite(suite.GM)) allow only
// SM3withSM2. See suite.Suite.Algorithms.
var AllowedAlgorithms = suite.Intl.Algorithms()

// ProtocolClaims are the claims of a protocol token: iss = sub = the caller,
// aud = the callee, exp at most MaxProtocolTTL after iat, a unique jti.
type ProtocolClaims struct {
	Kind Kind `json:"tkn"`
	jwt.RegisteredClaims
}

// Confirmation binds a token to a key (RFC 7800 cnf); JKT is the RFC 7638
// thumbprint of the key that must sign the DPoP proof (RFC 9449 §6.1).
type Confirmation struct {
	JKT string `json:"jkt"`
}

// AccessClaims are the claims of an access token: iss = provider, sub =
// consumer, aud = the provider's data plane, the agreement, dataset and
// transfer it authorises, and the consumer key it is bound to.
type AccessClaims struct {
	Kind      Kind          `json:"tkn"`
	Agreement string        `json:"agreement"`
	Dataset   string        `json:"dataset"`
	Transfer  string        `json:"transfer"`
	Cnf       *Confirmation `json:"cnf,omitempty"`
	jwt.RegisteredClaims
}

// RoleClaims are the claims of a role token: who (sub) may do what (role,
// scope) on which service (aud), issued by iss.
type RoleClaims struct {
	Kind  Kind     `json:"tkn"`
	Role  string   `json:"role"`
	Scope []string `json:"scope,omitempty"`
	jwt.RegisteredClaims
}

// dpopClaims are the claims of a DPoP proof (RFC 9449 §4.2).
type dpopClaims struct {
	HTM string `json:"htm"`
	HTU string `json:"htu"`
	ATH string `json:"ath"`
	jwt.RegisteredClaims
}

// newJTI is a fresh random token id: 128 bits, base64url.
func newJTI() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// sign signs claims with key under the given typ and the key's kid and alg.
func sign(key *Key, typ string, claims jwt.Claims) (string, error) {
	m := jwt.GetSigningMethod(key.JWK().Algorithm())
	t := jwt.NewWithClaims(m, claims)
	t.Header["typ"] = typ
	t.Header["kid"] = key.KeyID()
	return t.SignedString(key.Signer())
}
