package dcp

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tdsc/tdsc/identity"
)

// Data model constants (VC Data Model 2.0, Bitstring Status List 1.0).
const (
	ContextVC2 = "https://www.w3.org/ns/credentials/v2"
	// TypeMembership is the type of the credential the authority issues: the
	// participant's membership of the space and its registered attributes.
	TypeMembership = "MembershipCredential"
	// ScopeTypeAlias and ScopeIDAlias are the scope aliases DCP §5.4.1.2 defines.
	ScopeTypeAlias = "org.eclipse.dspace.dcp.vc.type"
	ScopeIDAlias   = "org.eclipse.dspace.dcp.vc.id"
	// ScopeMembership asks for the membership credential.
	ScopeMembership = ScopeTypeAlias + ":" + TypeMembership + ":read"
	// envelopedPrefix prefixes a JWT VC enveloped in a presentation.
	envelopedPrefix = "data:application/vc+jwt,"
)

// Scope is a parsed DCP scope, alias:discriminator[:operation].
type Scope struct {
	Alias, Discriminator, Operation string
}

// ParseScope parses a scope; the alias must be the type or id alias and the
// operation, when given, "read".
func ParseScope(s string) (Scope, error) {
	p := strings.Split(s, ":")
	if len(p) < 2 || len(p) > 3 || p[1] == "" {
		return Scope{}, fmt.Errorf("%w: scope %q: want alias:discriminator[:read]", ErrQuery, s)
	}
	sc := Scope{Alias: p[0], Discriminator: p[1], Operation: "read"}
	if len(p) == 3 {
		sc.Operation = p[2]
	}
	if sc.Alias != ScopeTypeAlias && sc.Alias != ScopeIDAlias {
		return Scope{}, fmt.Errorf("%w: scope %q: alias %q is not %s or %s", ErrQuery, s, sc.Alias, ScopeTypeAlias, ScopeIDAlias)
	}
	if sc.Operation != "read" && sc.Operation != "all" {
		return Scope{}, fmt.Errorf("%w: scope %q: operation %q is not read", ErrQuery, s, sc.Operation)
	}
	return sc, nil
}

// Matches reports whether a credential of these types and id is in scope.
func (sc Scope) Matches(id string, types []string) bool {
	if sc.Alias == ScopeIDAlias {
		return id == sc.Discriminator
	}
	return slices.Contains(types, sc.Discriminator)
}

// Subject is the credentialSubject of a membership credential: what the
// ledger registry states about the participant.
type Subject struct {
	ID          string   `json:"id"`
	Type        string   `json:"type,omitempty"`
	MemberOf    string   `json:"memberOf,omitempty"`
	Participant string   `json:"participant,omitempty"`
	Name        string   `json:"name,omitempty"`
	Region      string   `json:"region,omitempty"`
	Industry    string   `json:"industry,omitempty"`
	OrgType     string   `json:"orgType,omitempty"`
	CreditCode  string   `json:"creditCode,omitempty"`
	Member      []string `json:"member,omitempty"`
	// Status list credentials only.
	StatusPurpose string `json:"statusPurpose,omitempty"`
	EncodedList   string `json:"encodedList,omitempty"`
}

// Status is a BitstringStatusListEntry.
type Status struct {
	ID                   string `json:"id"`
	Type                 string `json:"type"`
	StatusPurpose        string `json:"statusPurpose"`
	StatusListIndex      string `json:"statusListIndex"`
	StatusListCredential string `json:"statusListCredential"`
}

// Index returns the entry's index in its list.
func (s *Status) Index() (int, error) {
	i, err := strconv.Atoi(s.StatusListIndex)
	if err != nil || i < 0 || i >= StatusListBits {
		return 0, fmt.Errorf("%w: credentialStatus.statusListIndex %q: must be an integer in [0, %d)", identity.ErrMalformed, s.StatusListIndex, StatusListBits)
	}
	return i, nil
}

// CredentialClaims is a JWT verifiable credential (VC Data Model 2.0 secured
// with JOSE): the credential itself is the payload, beside the JWT claims iss
// (= issuer), sub (= credentialSubject.id), jti (= id), iat, nbf, exp.
type CredentialClaims struct {
	Context    []string `json:"@context"`
	CredID     string   `json:"id"`
	Type       []string `json:"type"`
	CredIssuer string   `json:"issuer"`
	ValidFrom  string   `json:"validFrom,omitempty"`
	ValidUntil string   `json:"validUntil,omitempty"`
	Subject    Subject  `json:"credentialSubject"`
	Status     *Status  `json:"credentialStatus,omitempty"`
	jwt.RegisteredClaims
}

// check validates the data model fields against the JWT claims and the
// times (validFrom, validUntil) against now.
func (c *CredentialClaims) check(now time.Time, leeway time.Duration) error {
	if !slices.Contains(c.Context, ContextVC2) {
		return fmt.Errorf("%w: credential @context: must contain %q", identity.ErrMalformed, ContextVC2)
	}
	if !slices.Contains(c.Type, "VerifiableCredential") {
		return fmt.Errorf("%w: credential type: must contain VerifiableCredential", identity.ErrMalformed)
	}
	if c.CredIssuer == "" || c.CredIssuer != c.Issuer {
		return fmt.Errorf("%w: credential issuer %q must equal the JWT iss %q", identity.ErrWrongIssuer, c.CredIssuer, c.Issuer)
	}
	if c.Subject.ID == "" || (c.RegisteredClaims.Subject != "" && c.RegisteredClaims.Subject != c.Subject.ID) {
		return fmt.Errorf("%w: credentialSubject.id %q must be set and equal the JWT sub %q", identity.ErrMalformed, c.Subject.ID, c.RegisteredClaims.Subject)
	}
	for _, f := range []struct{ name, v string }{{"validFrom", c.ValidFrom}, {"validUntil", c.ValidUntil}} {
		if f.v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, f.v)
		if err != nil {
			return fmt.Errorf("%w: credential %s %q: not an RFC 3339 date-time", identity.ErrMalformed, f.name, f.v)
		}
		if f.name == "validFrom" && now.Add(leeway).Before(t) {
			return fmt.Errorf("%w: credential %s %s is in the future", identity.ErrNotYetValid, f.name, f.v)
		}
		if f.name == "validUntil" && now.Add(-leeway).After(t) {
			return fmt.Errorf("%w: credential %s %s has passed", identity.ErrExpired, f.name, f.v)
		}
	}
	return nil
}

// PresentationClaims is a JWT verifiable presentation: the presentation
// (holder, enveloped credentials) as payload beside iss (= holder), aud (the
// verifier), jti, iat, exp.
type PresentationClaims struct {
	Context []string `json:"@context"`
	Type    []string `json:"type"`
	Holder  string   `json:"holder"`
	// Credentials are EnvelopedVerifiableCredential objects whose id is a
	// data: URL holding the credential JWT.
	Credentials []Enveloped `json:"verifiableCredential"`
	jwt.RegisteredClaims
}

// Enveloped is an EnvelopedVerifiableCredential.
type Enveloped struct {
	Context []string `json:"@context,omitempty"`
	ID      string   `json:"id"`
	Type    string   `json:"type"`
}

// Envelope wraps a credential JWT for a presentation.
func Envelope(vcJWT string) Enveloped {
	return Enveloped{Context: []string{ContextVC2}, ID: envelopedPrefix + vcJWT, Type: "EnvelopedVerifiableCredential"}
}

// parseCredential verifies a credential JWT: signed by an assertionMethod key
// of its issuer's DID document, the issuer trusted, the data model and times
// valid. It does not check status or subject.
func parseCredential(ctx context.Context, res *Resolver, token string, trusted func(string) bool, algs []string, now func() time.Time, leeway time.Duration) (*CredentialClaims, error) {
	c := &CredentialClaims{}
	_, err := verifyJWT(ctx, res, token, c, jwtSpec{
		typs: []string{TypVC, "JWT"}, rel: AssertionMethod, algs: algs, now: now, leeway: leeway,
		signer: func() (string, error) {
			if !trusted(c.Issuer) {
				return "", fmt.Errorf("%w: credential iss %q is not a trusted issuer of this space", ErrUntrustedIssuer, c.Issuer)
			}
			return c.Issuer, nil
		},
	})
	if err != nil {
		return nil, err
	}
	if err := c.check(now(), leeway); err != nil {
		return nil, err
	}
	return c, nil
}

// ParseUnverifiedCredential reads a credential JWT's claims without checking
// its signature: for a holder filing credentials it received, never for a
// decision.
func ParseUnverifiedCredential(token string) (*CredentialClaims, error) {
	if len(token) > MaxJWTBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", identity.ErrTokenTooLarge, len(token), MaxJWTBytes)
	}
	c := &CredentialClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(token, c); err != nil {
		return nil, fmt.Errorf("%w: credential: %v", identity.ErrMalformed, err)
	}
	if c.CredID == "" || c.Subject.ID == "" || len(c.Type) == 0 {
		return nil, fmt.Errorf("%w: credential: fields id, type and credentialSubject.id are required", identity.ErrMalformed)
	}
	return c, nil
}

// Attributes is the registry's view of the participant this membership
// credential describes: the attributes policies evaluate, keyed by its DID.
func (s Subject) Attributes() identity.Participant {
	id := s.Participant
	if id == "" {
		id = s.ID
	}
	return identity.Participant{
		ID: id, DID: s.ID, Name: s.Name, Region: s.Region, Industry: s.Industry, OrgType: s.OrgType,
		CreditCode: s.CreditCode, Member: s.Member, Status: identity.StatusActive,
	}
}

// jsonTime formats t as a VC date-time.
func jsonTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }
