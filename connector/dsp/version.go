package dsp

import (
	"fmt"
	"io"
	"net/url"
	"strings"
)

// versionResponse names the dspace-version document in refusals.
const versionResponse = "VersionResponse"

// VersionPath is where every DSP connector publishes its protocol versions.
const VersionPath = "/.well-known/dspace-version"

// Version2025 is the protocol version tdsc speaks.
const Version2025 = "2025-1"

// ProfileCountersigned is tdsc's countersigned-agreement profile: the
// provider's agreement carries tdsc:terms and the consumer's verification
// carries its signature over them (ledger.TermsMessage), so the ledger's
// agreement.signed is signed by both parties. A node advertises it in its
// dspace-version entry and in its contract requests (tdsc:profile), and uses
// it only with a peer that advertises it too; with any other peer the
// agreement's evidence is the consumer's verification message
// (acknowledged).
const ProfileCountersigned = TDSCNamespace + "profile/countersigned"

// Auth protocol tdsc authenticates DSP calls with: an Ed25519-signed JWT
// bearer token whose key the space's ledger registers for the caller.
const (
	AuthProtocol = "tdsc-protocol-token"
	AuthVersion  = "1"
)

// The DCP entry a node that also speaks the Decentralized Claims Protocol
// publishes (DSP 2025-1 §4.3's auth object; DCP 1.0's vc20-bssl/jwt profile:
// VC Data Model 2.0 credentials as JWTs, Bitstring Status List).
const (
	AuthDCP        = "DCP"
	AuthDCPVersion = "1.0"
	ProfileDCPJWT  = "vc20-bssl/jwt"
)

// DCPVersion is the dspace-version entry for DSP 2025-1 at path
// authenticated with DCP: the node is identified by its did:web.
func DCPVersion(did, path string) Version {
	if path == "" {
		path = "/"
	}
	return Version{Version: Version2025, Path: path, Binding: "HTTPS", IdentifierType: "did:web", ServiceID: did,
		Auth: &Auth{Protocol: AuthDCP, Version: AuthDCPVersion, Profile: []string{ProfileDCPJWT}}}
}

// VersionResponse is the body of /.well-known/dspace-version.
type VersionResponse struct {
	ProtocolVersions []Version `json:"protocolVersions"`
}

// Version is one entry: a protocol version, where it is served (path,
// relative to the host) and how (binding, auth). ParticipantID and Profiles
// are tdsc terms (TDSCContext): the node's participant id, and the profiles
// it supports (ProfileCountersigned).
type Version struct {
	Version        string   `json:"version"`
	Path           string   `json:"path"`
	Binding        string   `json:"binding"`
	IdentifierType string   `json:"identifierType,omitempty"`
	ServiceID      string   `json:"serviceId,omitempty"`
	Auth           *Auth    `json:"auth,omitempty"`
	ParticipantID  string   `json:"tdsc:participantId,omitempty"`
	Profiles       []string `json:"tdsc:profile,omitempty"`
}

// Auth says how a version's endpoint authenticates callers.
type Auth struct {
	Protocol string   `json:"protocol"`
	Version  string   `json:"version"`
	Profile  []string `json:"profile,omitempty"`
}

// NewVersionResponse is what a tdsc node publishes: DSP 2025-1 over HTTPS at
// path, tdsc's protocol tokens, and its participant id and profiles.
func NewVersionResponse(participantID, path string, profiles ...string) VersionResponse {
	if path == "" {
		path = "/"
	}
	return VersionResponse{ProtocolVersions: []Version{{Version: Version2025, Path: path, Binding: "HTTPS",
		IdentifierType: "did", ServiceID: participantID,
		Auth:          &Auth{Protocol: AuthProtocol, Version: AuthVersion, Profile: []string{"ed25519-jwt-bearer"}},
		ParticipantID: participantID, Profiles: profiles}}}
}

// DecodeVersionResponse reads a peer's dspace-version document and returns
// its DSP 2025-1 entry over HTTPS.
func DecodeVersionResponse(r io.Reader) (*Version, error) {
	const t = versionResponse
	data, err := read(r, MaxMessageBytes, t)
	if err != nil {
		return nil, err
	}
	var v VersionResponse
	if err := plainDecode(data, t, &v, nil); err != nil {
		return nil, err
	}
	if len(v.ProtocolVersions) == 0 {
		return nil, malformed(t, "protocolVersions", "required: at least one version")
	}
	for i, e := range v.ProtocolVersions {
		if e.Version != Version2025 || !strings.EqualFold(e.Binding, "HTTPS") {
			continue
		}
		if e.Path == "" {
			return nil, malformed(t, fmt.Sprintf("protocolVersions[%d].path", i), "required")
		}
		if u, err := url.Parse(e.Path); err != nil || u.Host != "" && u.Scheme != "http" && u.Scheme != "https" {
			return nil, malformed(t, fmt.Sprintf("protocolVersions[%d].path", i), "must be a path or an http(s) URL, got %q", e.Path)
		}
		return &v.ProtocolVersions[i], nil
	}
	return nil, malformed(t, "protocolVersions", "no entry for version %s with binding HTTPS", Version2025)
}

// BaseURL resolves the entry's path against the URL the document was read
// from (its origin): the peer's DSP base URL, without a trailing slash.
func (v *Version) BaseURL(origin string) (string, error) {
	o, err := url.Parse(origin)
	if err != nil {
		return "", err
	}
	p, err := url.Parse(v.Path)
	if err != nil {
		return "", err
	}
	return strings.TrimRight(o.ResolveReference(p).String(), "/"), nil
}

// Supports reports whether the entry advertises profile.
func (v *Version) Supports(profile string) bool {
	for _, p := range v.Profiles {
		if p == profile {
			return true
		}
	}
	return false
}
