package dcp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/tdsc/tdsc/identity"
)

// JSON-LD contexts and types used in DID documents.
const (
	ContextDID = "https://www.w3.org/ns/did/v1"
	ContextDCP = "https://w3id.org/dspace-dcp/v1.0/dcp.jsonld"
	// ServiceCredential is the service type of a Credential Service (DCP §5.2).
	ServiceCredential = "CredentialService"
	// ServiceDSP is the service type of a DSP connector endpoint (DSP 2025-1).
	ServiceDSP = "DataService"
	// KeyFragment is the fragment of the node's key in its DID document.
	KeyFragment = "key-1"
	// MaxDocumentBytes is the largest DID document read.
	MaxDocumentBytes = 64 << 10
)

// Relationship is a DID verification relationship.
type Relationship string

// The relationships DCP uses: ID tokens are signed with a capabilityInvocation
// key, presentations with an authentication key, credentials with an
// assertionMethod key.
const (
	Authentication       Relationship = "authentication"
	AssertionMethod      Relationship = "assertionMethod"
	CapabilityInvocation Relationship = "capabilityInvocation"
)

// Document is a DID document (DID Core 1.0) as DCP needs it. Relationship
// entries are references to verificationMethod ids; embedded methods are
// refused.
type Document struct {
	Context              []string             `json:"@context"`
	ID                   string               `json:"id"`
	VerificationMethod   []VerificationMethod `json:"verificationMethod"`
	Authentication       []string             `json:"authentication,omitempty"`
	AssertionMethod      []string             `json:"assertionMethod,omitempty"`
	CapabilityInvocation []string             `json:"capabilityInvocation,omitempty"`
	Service              []Service            `json:"service,omitempty"`
}

// VerificationMethod is a public key of the DID subject, as a JWK.
type VerificationMethod struct {
	ID           string       `json:"id"`
	Type         string       `json:"type"`
	Controller   string       `json:"controller"`
	PublicKeyJwk identity.JWK `json:"publicKeyJwk"`
}

// Service is a service entry; ServiceEndpoint is a URL.
type Service struct {
	ID              string `json:"id"`
	Type            string `json:"type"`
	ServiceEndpoint string `json:"serviceEndpoint"`
}

// NewDocument makes the DID document of a node: one key, usable for all three
// DCP relationships, and the given service entries (ids relative to did).
func NewDocument(did string, key identity.JWK, services ...Service) (*Document, error) {
	if _, err := WebURL(did); err != nil {
		return nil, err
	}
	if err := key.Validate(); err != nil {
		return nil, fmt.Errorf("%w: DID document key: %w", ErrDID, err)
	}
	key.Kid = ""
	vm := did + "#" + KeyFragment
	d := &Document{
		Context: []string{ContextDID, ContextDCP}, ID: did,
		VerificationMethod:   []VerificationMethod{{ID: vm, Type: "JsonWebKey2020", Controller: did, PublicKeyJwk: key}},
		Authentication:       []string{vm},
		AssertionMethod:      []string{vm},
		CapabilityInvocation: []string{vm},
	}
	for _, s := range services {
		if !strings.HasPrefix(s.ID, did+"#") {
			s.ID = did + "#" + strings.TrimPrefix(s.ID, "#")
		}
		d.Service = append(d.Service, s)
	}
	return d, d.validate(did)
}

// ParseDocument parses a DID document read from untrusted input and checks
// that it is the document of did: its id, its methods' ids and controllers,
// its keys, and that every relationship names one of its methods.
func ParseDocument(b []byte, did string) (*Document, error) {
	if len(b) > MaxDocumentBytes {
		return nil, fmt.Errorf("%w: document of %d bytes, limit %d", ErrDID, len(b), MaxDocumentBytes)
	}
	var d Document
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("%w: document of %q: %v", ErrDID, did, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: document of %q: trailing data after the JSON object", ErrDID, did)
	}
	// Relative method ids ("#key-1") are resolved against the DID.
	abs := func(id string) string {
		if strings.HasPrefix(id, "#") {
			return did + id
		}
		return id
	}
	for i := range d.VerificationMethod {
		d.VerificationMethod[i].ID = abs(d.VerificationMethod[i].ID)
	}
	for _, rel := range []*[]string{&d.Authentication, &d.AssertionMethod, &d.CapabilityInvocation} {
		for i := range *rel {
			(*rel)[i] = abs((*rel)[i])
		}
	}
	if err := d.validate(did); err != nil {
		return nil, err
	}
	return &d, nil
}

func (d *Document) validate(did string) error {
	if d.ID != did {
		return fmt.Errorf("%w: document field id: %q, want the resolved DID %q", ErrDID, d.ID, did)
	}
	if len(d.VerificationMethod) == 0 {
		return fmt.Errorf("%w: document of %q field verificationMethod: at least one key required", ErrDID, did)
	}
	seen := map[string]bool{}
	for i, vm := range d.VerificationMethod {
		if !strings.HasPrefix(vm.ID, did+"#") || len(vm.ID) == len(did)+1 {
			return fmt.Errorf("%w: document of %q field verificationMethod[%d].id: %q must be %s#<fragment>", ErrDID, did, i, vm.ID, did)
		}
		if vm.Controller != did {
			return fmt.Errorf("%w: document of %q field verificationMethod[%d].controller: %q, want %q", ErrDID, did, i, vm.Controller, did)
		}
		if vm.Type != "JsonWebKey2020" && vm.Type != "JsonWebKey" {
			return fmt.Errorf("%w: document of %q field verificationMethod[%d].type: %q, want JsonWebKey2020 or JsonWebKey", ErrDID, did, i, vm.Type)
		}
		if err := vm.PublicKeyJwk.Validate(); err != nil {
			return fmt.Errorf("%w: document of %q field verificationMethod[%d].publicKeyJwk: %w", ErrDID, did, i, err)
		}
		if seen[vm.ID] {
			return fmt.Errorf("%w: document of %q field verificationMethod[%d].id: %q appears twice", ErrDID, did, i, vm.ID)
		}
		seen[vm.ID] = true
	}
	for _, r := range []struct {
		name Relationship
		ids  []string
	}{{Authentication, d.Authentication}, {AssertionMethod, d.AssertionMethod}, {CapabilityInvocation, d.CapabilityInvocation}} {
		for i, id := range r.ids {
			if !seen[id] {
				return fmt.Errorf("%w: document of %q field %s[%d]: %q names no verificationMethod", ErrDID, did, r.name, i, id)
			}
		}
	}
	for i, s := range d.Service {
		if s.Type == "" {
			return fmt.Errorf("%w: document of %q field service[%d].type: required", ErrDID, did, i)
		}
		if u, err := url.Parse(s.ServiceEndpoint); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
			return fmt.Errorf("%w: document of %q field service[%d].serviceEndpoint: %q is not an absolute http(s) URL", ErrDID, did, i, s.ServiceEndpoint)
		}
	}
	return nil
}

// Key returns the public key of the method named by kid that has the
// relationship rel. kid may be the full method id (did#fragment) or the bare
// fragment; an empty kid picks the only method when there is exactly one (DCP
// §4.3.3). Errors wrap identity.ErrUnknownKey.
func (d *Document) Key(kid string, rel Relationship) (identity.JWK, error) {
	var id string
	switch {
	case kid == "" && len(d.VerificationMethod) == 1:
		id = d.VerificationMethod[0].ID
	case kid == "":
		return identity.JWK{}, fmt.Errorf("%w: header kid: required, %q has %d keys", identity.ErrUnknownKey, d.ID, len(d.VerificationMethod))
	case strings.HasPrefix(kid, "did:"):
		id = kid
	default:
		id = d.ID + "#" + strings.TrimPrefix(kid, "#")
	}
	var rels []string
	switch rel {
	case Authentication:
		rels = d.Authentication
	case AssertionMethod:
		rels = d.AssertionMethod
	case CapabilityInvocation:
		rels = d.CapabilityInvocation
	}
	for _, vm := range d.VerificationMethod {
		if vm.ID != id {
			continue
		}
		for _, r := range rels {
			if r == id {
				return vm.PublicKeyJwk, nil
			}
		}
		return identity.JWK{}, fmt.Errorf("%w: header kid: key %q of %q lacks the %s relationship", identity.ErrUnknownKey, id, d.ID, rel)
	}
	return identity.JWK{}, fmt.Errorf("%w: header kid: %q is not a key in the DID document of %q", identity.ErrUnknownKey, kid, d.ID)
}

// ServiceEndpoint returns the endpoint of the first service of type typ.
func (d *Document) ServiceEndpoint(typ string) (string, error) {
	for _, s := range d.Service {
		if s.Type == typ {
			return strings.TrimRight(s.ServiceEndpoint, "/"), nil
		}
	}
	return "", fmt.Errorf("%w: document of %q has no %s service entry", ErrDID, d.ID, typ)
}

// WebURL maps a did:web DID to the HTTPS URL of its document (did:web method
// §3.2): did:web:host[%3Aport] is https://host[:port]/.well-known/did.json,
// did:web:host:a:b is https://host/a/b/did.json.
func WebURL(did string) (string, error) {
	rest, ok := strings.CutPrefix(did, "did:web:")
	if !ok {
		return "", fmt.Errorf("%w: %q: only did:web is supported", ErrDID, did)
	}
	if strings.ContainsAny(rest, "/?#") {
		return "", fmt.Errorf("%w: %q: a did:web has no path, query or fragment", ErrDID, did)
	}
	parts := strings.Split(rest, ":")
	host, err := url.PathUnescape(parts[0])
	if err != nil || host == "" {
		return "", fmt.Errorf("%w: %q: bad host %q", ErrDID, did, parts[0])
	}
	h, port, err := net.SplitHostPort(host)
	if err != nil {
		h, port = host, ""
	}
	if h == "" || strings.ContainsAny(h, "/@\\%[] ") {
		return "", fmt.Errorf("%w: %q: bad host %q", ErrDID, did, host)
	}
	if port != "" {
		for _, c := range port {
			if c < '0' || c > '9' {
				return "", fmt.Errorf("%w: %q: bad port %q", ErrDID, did, port)
			}
		}
	}
	path := "/.well-known"
	if len(parts) > 1 {
		segs := make([]string, 0, len(parts)-1)
		for _, p := range parts[1:] {
			s, err := url.PathUnescape(p)
			if err != nil || s == "" || s == "." || s == ".." || strings.ContainsAny(s, "/\\") {
				return "", fmt.Errorf("%w: %q: bad path segment %q", ErrDID, did, p)
			}
			segs = append(segs, url.PathEscape(s))
		}
		path = "/" + strings.Join(segs, "/")
	}
	return "https://" + host + path + "/did.json", nil
}

// WebDID is the did:web of an HTTPS base address (host and optional port and
// path), the inverse of WebURL: "https://127.0.0.1:8443/p" gives
// did:web:127.0.0.1%3A8443:p.
func WebDID(base string) (string, error) {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("%w: base URL %q: needs scheme and host", ErrDID, base)
	}
	did := "did:web:" + strings.ReplaceAll(u.Host, ":", "%3A")
	for _, s := range strings.Split(strings.Trim(u.Path, "/"), "/") {
		if s != "" {
			did += ":" + s
		}
	}
	return did, nil
}

// DocumentHandler serves doc at GET /.well-known/did.json (a did:web without
// path) and at GET /{path...}/did.json for the did:web path form.
func DocumentHandler(doc *Document) http.Handler {
	b, _ := json.MarshalIndent(doc, "", "  ")
	u, _ := WebURL(doc.ID)
	pu, _ := url.Parse(u)
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+pu.EscapedPath(), func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/did+json")
		_, _ = w.Write(b)
	})
	return mux
}

// WebBase is the HTTPS base address of a did:web: the URL of its document
// without "/did.json" (and without "/.well-known" for a DID without path).
// Services of the DID's owner live under it.
func WebBase(did string) (string, error) {
	u, err := WebURL(did)
	if err != nil {
		return "", err
	}
	u = strings.TrimSuffix(u, "/did.json")
	return strings.TrimSuffix(u, "/.well-known"), nil
}
