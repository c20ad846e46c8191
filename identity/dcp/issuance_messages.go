package dcp

import (
	"encoding/json"
	"fmt"
	"slices"
)

// The Credential Issuance Protocol (DCP 1.0 §6): service type, paths, message
// types and request states.
const (
	// ServiceIssuer is the service type of an Issuer Service (DCP §6.2).
	ServiceIssuer = "IssuerService"
	// Issuer Service paths, relative to its base URL.
	MetadataPath    = "/metadata"
	CredentialsPath = "/credentials" // also the Credential Service's Storage API
	RequestsPath    = "/requests/"
	// OffersPath is the Credential Service's Credential Offer API.
	OffersPath = "/offers"
	// MembershipSchemaPath is where the Issuer Service serves the JSON Schema
	// of a membership credential's credentialSubject.
	MembershipSchemaPath = "/schemas/" + TypeMembership + ".json"

	TypeCredentialRequest = "CredentialRequestMessage"
	TypeCredentialMessage = "CredentialMessage"
	TypeCredentialOffer   = "CredentialOfferMessage"
	TypeCredentialStatus  = "CredentialStatus"
	TypeIssuerMetadata    = "IssuerMetadata"
	TypeCredentialObject  = "CredentialObject"

	// ProfileVC20JWT is the DCP profile tdsc issues and stores: VC Data Model
	// 2.0 credentials as JWTs with a Bitstring Status List.
	ProfileVC20JWT = "vc20-bssl/jwt"

	// Request states (CredentialStatus.status); a CredentialMessage's status
	// is ISSUED or REJECTED.
	StatusReceived = "RECEIVED"
	StatusIssued   = "ISSUED"
	StatusRejected = "REJECTED"

	// maxIssuanceBytes bounds an issuance message body (a CredentialMessage
	// carries credential JWTs).
	maxIssuanceBytes = 256 << 10
	// maxCredentialsPerMessage bounds the credentials (or ids) one message names.
	maxCredentialsPerMessage = 16
	// maxPidBytes bounds holderPid, issuerPid and credential object ids.
	maxPidBytes = 256
)

// CredentialObject describes a credential an issuer offers (DCP §6.6.2).
type CredentialObject struct {
	Context          []string        `json:"@context,omitempty"`
	ID               string          `json:"id"`
	Type             string          `json:"type"`
	CredentialType   string          `json:"credentialType,omitempty"`
	CredentialSchema string          `json:"credentialSchema,omitempty"`
	OfferReason      string          `json:"offerReason,omitempty"`
	BindingMethods   []string        `json:"bindingMethods,omitempty"`
	Profile          string          `json:"profile,omitempty"`
	IssuancePolicy   json.RawMessage `json:"issuancePolicy,omitempty"`
}

// IssuerMetadata is what GET /metadata answers (DCP §6.7.1).
type IssuerMetadata struct {
	Context              []string           `json:"@context"`
	Type                 string             `json:"type"`
	Issuer               string             `json:"issuer"`
	CredentialsSupported []CredentialObject `json:"credentialsSupported"`
}

// CredentialRef names a CredentialObject of the issuer's metadata by id.
type CredentialRef struct {
	ID string `json:"id"`
}

// CredentialRequestMessage is a holder's request (DCP §6.4.1).
type CredentialRequestMessage struct {
	Context     []string        `json:"@context"`
	Type        string          `json:"type"`
	HolderPid   string          `json:"holderPid"`
	Credentials []CredentialRef `json:"credentials"`
}

// CredentialContainer carries one issued credential (DCP §6.5.2).
type CredentialContainer struct {
	CredentialType string `json:"credentialType"`
	Payload        string `json:"payload"`
	Format         string `json:"format"`
}

// CredentialMessage is what an issuer writes to a holder's Credential
// Service (DCP §6.5.1): the credentials issued, or a rejection.
type CredentialMessage struct {
	Context         []string              `json:"@context"`
	Type            string                `json:"type"`
	IssuerPid       string                `json:"issuerPid"`
	HolderPid       string                `json:"holderPid"`
	Status          string                `json:"status"`
	RejectionReason string                `json:"rejectionReason,omitempty"`
	Credentials     []CredentialContainer `json:"credentials,omitempty"`
}

// CredentialOfferMessage is an issuer's offer to a holder (DCP §6.6.1).
type CredentialOfferMessage struct {
	Context     []string           `json:"@context"`
	Type        string             `json:"type"`
	Issuer      string             `json:"issuer"`
	Credentials []CredentialObject `json:"credentials"`
}

// CredentialStatus is what GET /requests/{id} answers (DCP §6.8.1).
type CredentialStatus struct {
	Context   []string `json:"@context"`
	Type      string   `json:"type"`
	IssuerPid string   `json:"issuerPid"`
	HolderPid string   `json:"holderPid"`
	Status    string   `json:"status"`
	// RejectionReason is tdsc's addition: why a REJECTED request was.
	RejectionReason string `json:"rejectionReason,omitempty"`
}

// envelope checks a message's @context and type.
func envelope(b []byte, v any, ctx *[]string, typ *string, want string) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: body: %v", ErrIssuance, err)
	}
	if !slices.Contains(*ctx, ContextDCP) {
		return fmt.Errorf("%w: field @context: must contain %q", ErrIssuance, ContextDCP)
	}
	if *typ != want {
		return fmt.Errorf("%w: field type: %q, want %q", ErrIssuance, *typ, want)
	}
	return nil
}

func pid(field, v string) error {
	if v == "" {
		return fmt.Errorf("%w: field %s: required", ErrIssuance, field)
	}
	if len(v) > maxPidBytes {
		return fmt.Errorf("%w: field %s: %d bytes, limit %d", ErrIssuance, field, len(v), maxPidBytes)
	}
	return nil
}

func count(field string, n int) error {
	if n == 0 {
		return fmt.Errorf("%w: field %s: a non-empty array is required", ErrIssuance, field)
	}
	if n > maxCredentialsPerMessage {
		return fmt.Errorf("%w: field %s: %d entries, limit %d", ErrIssuance, field, n, maxCredentialsPerMessage)
	}
	return nil
}

// ParseCredentialRequest parses and checks a CredentialRequestMessage read
// from untrusted input: the DCP context and type, holderPid, and a non-empty
// credentials array of ids.
func ParseCredentialRequest(b []byte) (*CredentialRequestMessage, error) {
	var m CredentialRequestMessage
	if err := envelope(b, &m, &m.Context, &m.Type, TypeCredentialRequest); err != nil {
		return nil, err
	}
	if err := pid("holderPid", m.HolderPid); err != nil {
		return nil, err
	}
	if err := count("credentials", len(m.Credentials)); err != nil {
		return nil, err
	}
	for i, c := range m.Credentials {
		if err := pid(fmt.Sprintf("credentials[%d].id", i), c.ID); err != nil {
			return nil, err
		}
	}
	return &m, nil
}

// ParseCredentialMessage parses and checks a CredentialMessage read from
// untrusted input: the DCP context and type, issuerPid, holderPid (optional
// in DCP's schema, required by the TCK and here: tdsc answers only requests it
// made), status ISSUED with credentials or REJECTED, and each container's
// fields. The credentials themselves are verified by the Credential Service.
func ParseCredentialMessage(b []byte) (*CredentialMessage, error) {
	var m CredentialMessage
	if err := envelope(b, &m, &m.Context, &m.Type, TypeCredentialMessage); err != nil {
		return nil, err
	}
	if err := pid("issuerPid", m.IssuerPid); err != nil {
		return nil, err
	}
	if err := pid("holderPid", m.HolderPid); err != nil {
		return nil, err
	}
	switch m.Status {
	case StatusIssued:
		if err := count("credentials", len(m.Credentials)); err != nil {
			return nil, err
		}
	case StatusRejected:
		if len(m.Credentials) > 0 {
			return nil, fmt.Errorf("%w: field credentials: a REJECTED message carries none", ErrIssuance)
		}
		if len(m.RejectionReason) > 1024 {
			return nil, fmt.Errorf("%w: field rejectionReason: %d bytes, limit 1024", ErrIssuance, len(m.RejectionReason))
		}
	default:
		return nil, fmt.Errorf("%w: field status: %q, want %s or %s", ErrIssuance, m.Status, StatusIssued, StatusRejected)
	}
	for i, c := range m.Credentials {
		for _, f := range []struct{ name, v string }{{"credentialType", c.CredentialType}, {"format", c.Format}, {"payload", c.Payload}} {
			if f.v == "" {
				return nil, fmt.Errorf("%w: field credentials[%d].%s: required", ErrIssuance, i, f.name)
			}
		}
	}
	return &m, nil
}

// ParseCredentialOffer parses and checks a CredentialOfferMessage read from
// untrusted input: the DCP context and type, the issuer, and a non-empty
// credentials array of CredentialObjects with ids (sparse objects, id only,
// are allowed: their other fields are the issuer's metadata's).
func ParseCredentialOffer(b []byte) (*CredentialOfferMessage, error) {
	var m CredentialOfferMessage
	if err := envelope(b, &m, &m.Context, &m.Type, TypeCredentialOffer); err != nil {
		return nil, err
	}
	if m.Issuer == "" {
		return nil, fmt.Errorf("%w: field issuer: required, the issuer's DID", ErrIssuance)
	}
	if err := count("credentials", len(m.Credentials)); err != nil {
		return nil, err
	}
	for i, c := range m.Credentials {
		if err := pid(fmt.Sprintf("credentials[%d].id", i), c.ID); err != nil {
			return nil, err
		}
		if c.Type != "" && c.Type != TypeCredentialObject {
			return nil, fmt.Errorf("%w: field credentials[%d].type: %q, want %q", ErrIssuance, i, c.Type, TypeCredentialObject)
		}
	}
	return &m, nil
}

// ParseCredentialStatus parses a CredentialStatus answered by an issuer.
func ParseCredentialStatus(b []byte) (*CredentialStatus, error) {
	var m CredentialStatus
	if err := envelope(b, &m, &m.Context, &m.Type, TypeCredentialStatus); err != nil {
		return nil, err
	}
	if err := pid("issuerPid", m.IssuerPid); err != nil {
		return nil, err
	}
	if m.Status != StatusReceived && m.Status != StatusIssued && m.Status != StatusRejected {
		return nil, fmt.Errorf("%w: field status: %q, want RECEIVED, ISSUED or REJECTED", ErrIssuance, m.Status)
	}
	return &m, nil
}

// ParseIssuerMetadata parses an issuer's metadata.
func ParseIssuerMetadata(b []byte) (*IssuerMetadata, error) {
	var m IssuerMetadata
	if err := envelope(b, &m, &m.Context, &m.Type, TypeIssuerMetadata); err != nil {
		return nil, err
	}
	if m.Issuer == "" {
		return nil, fmt.Errorf("%w: field issuer: required", ErrIssuance)
	}
	return &m, nil
}
