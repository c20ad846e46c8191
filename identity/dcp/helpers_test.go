package dcp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/identity/dcp"
)

// sign signs any claims with key under typ and kid (crafted tokens).
func sign(t testing.TB, key *identity.Key, kid, typ string, claims jwt.Claims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.GetSigningMethod(key.JWK().Algorithm()), claims)
	if typ != "" {
		tok.Header["typ"] = typ
	}
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key.Signer())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// idClaims are self-issued ID token claims from iss to aud at now.
func idClaims(iss, aud, token string, now time.Time) *dcp.IDClaims {
	return &dcp.IDClaims{Token: token, RegisteredClaims: jwt.RegisteredClaims{
		Issuer: iss, Subject: iss, Audience: jwt.ClaimStrings{aud}, ID: uuid.NewString(),
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)),
	}}
}

// idToken signs an ID token as n with its DID key.
func (n *node) idToken(t *testing.T, c *dcp.IDClaims) string {
	t.Helper()
	return sign(t, n.key, n.did+"#"+dcp.KeyFragment, "JWT", c)
}

var scopeQuery = dcp.QueryMessage{Context: []string{dcp.ContextDCP}, Type: dcp.TypeQuery, Scope: []string{dcp.ScopeMembership}}

// query posts body to n's Credential Service with the Authorization header auth.
func (s *space) query(n *node, auth string, body any) (int, dcp.ResponseMessage) {
	s.t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, n.base+"/cs"+dcp.PresentationsPath, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := s.srv.Client().Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m dcp.ResponseMessage
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// vc crafts a membership credential about subject signed by signer.
func (s *space) vc(signer *node, subject string, mutate func(*dcp.CredentialClaims)) string {
	s.t.Helper()
	now := s.clock.Now()
	c := &dcp.CredentialClaims{
		Context: []string{dcp.ContextVC2}, CredID: "urn:uuid:" + uuid.NewString(), Type: []string{"VerifiableCredential", dcp.TypeMembership},
		CredIssuer: signer.did, ValidFrom: now.Format(time.RFC3339), ValidUntil: now.Add(time.Hour).Format(time.RFC3339),
		Subject:          dcp.Subject{ID: subject, MemberOf: spaceID, Participant: "p-" + strconv.Itoa(int(now.Unix()%1000)), Region: "CN-SH"},
		RegisteredClaims: jwt.RegisteredClaims{Issuer: signer.did, Subject: subject, IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour))},
	}
	if mutate != nil {
		mutate(c)
	}
	return sign(s.t, signer.key, signer.did+"#"+dcp.KeyFragment, dcp.TypVC, c)
}

// vp crafts a presentation by holder to aud of the credential JWTs.
func (s *space) vp(holder *node, aud string, mutate func(*dcp.PresentationClaims), vcs ...string) string {
	s.t.Helper()
	now := s.clock.Now()
	c := &dcp.PresentationClaims{Context: []string{dcp.ContextVC2}, Type: []string{"VerifiablePresentation"}, Holder: holder.did,
		RegisteredClaims: jwt.RegisteredClaims{Issuer: holder.did, Subject: holder.did, Audience: jwt.ClaimStrings{aud}, ID: uuid.NewString(),
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute))}}
	for _, v := range vcs {
		c.Credentials = append(c.Credentials, dcp.Envelope(v))
	}
	if mutate != nil {
		mutate(c)
	}
	return sign(s.t, holder.key, holder.did+"#"+dcp.KeyFragment, dcp.TypVP, c)
}

// craftedHolder makes a DID participant whose Credential Service answers
// whatever answer returns (a misbehaving or malicious holder).
func (s *space) craftedHolder(name string, answer func() dcp.ResponseMessage) *node {
	s.t.Helper()
	n := s.addNode(name)
	s.mux.HandleFunc("POST /"+name+"/cs"+dcp.PresentationsPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(answer())
	})
	return n
}

func response(vps ...string) dcp.ResponseMessage {
	if vps == nil {
		vps = []string{}
	}
	return dcp.ResponseMessage{Context: []string{dcp.ContextDCP}, Type: dcp.TypeResponse, Presentation: vps}
}
