package dsp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// MaxMessageBytes bounds every DSP message body. Catalogues we receive may be
// larger; see MaxCatalogBytes.
const MaxMessageBytes = 256 << 10

// MaxCatalogBytes bounds a catalogue response read from a peer.
const MaxCatalogBytes = 8 << 20

// ErrMalformed marks a message that could not be decoded or misses a required
// field. The sender should fix the message; retrying it unchanged will fail again.
var ErrMalformed = errors.New("dsp: malformed message")

// ErrTooLarge marks a body over the size limit.
var ErrTooLarge = errors.New("dsp: message too large")

// DecodeError names the message type and field a decoder refused.
type DecodeError struct {
	Type   string // the @type expected
	Field  string // JSON field, "" for the whole body
	Reason string
	Err    error // ErrMalformed or ErrTooLarge
}

func (e *DecodeError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s: %s", e.Type, e.Reason)
	}
	return fmt.Sprintf("%s: field %q: %s", e.Type, e.Field, e.Reason)
}

func (e *DecodeError) Unwrap() error { return e.Err }

func malformed(typ, field, format string, args ...any) error {
	return &DecodeError{Type: typ, Field: field, Reason: fmt.Sprintf(format, args...), Err: ErrMalformed}
}

// read reads at most limit bytes of r, refusing more.
func read(r io.Reader, limit int64, typ string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &DecodeError{Type: typ, Reason: fmt.Sprintf("body larger than %d bytes", limit), Err: ErrTooLarge}
		}
		return nil, &DecodeError{Type: typ, Reason: "reading body: " + err.Error(), Err: ErrMalformed}
	}
	if int64(len(data)) > limit {
		return nil, &DecodeError{Type: typ, Reason: fmt.Sprintf("body larger than %d bytes", limit), Err: ErrTooLarge}
	}
	return data, nil
}

// plainDecode decodes data as plain JSON into v and checks the header.
func plainDecode(data []byte, typ string, v any, h *Header) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return malformed(typ, te.Field, "must be a JSON %s, got %s", te.Type, te.Value)
		}
		return malformed(typ, "", "not valid JSON: %v", err)
	}
	if dec.More() {
		return malformed(typ, "", "trailing data after the JSON object")
	}
	return checkHeader(typ, h)
}

// decodeLD decodes one message of type typ into a fresh T and runs check on
// it. The common compacted form (fastPath) is read as plain JSON; any other
// JSON-LD form, and any message the fast path refuses, goes through the
// JSON-LD processor (compactForm), whose answer is the decision — so every
// form of a message reaches the same one.
func decodeLD[T any](data []byte, typ string, hdr func(*T) *Header, check func(*T) error) (*T, error) {
	if fastPath(data) {
		m := new(T)
		if err := plainDecode(data, typ, m, hdr(m)); err == nil {
			if err := check(m); err == nil {
				return m, nil
			}
		}
	}
	if !json.Valid(data) {
		return nil, malformed(typ, "", "not valid JSON")
	}
	compact, err := compactForm(data, typ)
	if err != nil {
		return nil, err
	}
	m := new(T)
	h := hdr(m)
	if err := plainDecode(compact, typ, m, h); err != nil {
		return nil, afterLD(err)
	}
	if err := check(m); err != nil {
		return nil, afterLD(err)
	}
	return m, nil
}

// afterLD says, in a refusal of a message that needed JSON-LD processing,
// that a missing field may have been a key the contexts do not define.
func afterLD(err error) error {
	var de *DecodeError
	if errors.As(err, &de) && strings.HasPrefix(de.Reason, "required") {
		de.Reason += " (after JSON-LD expansion: a key that is not a DSP, ODRL or tdsc term is dropped)"
	}
	return err
}

// readLD reads a body and decodes it with decodeLD.
func readLD[T any](r io.Reader, limit int64, typ string, hdr func(*T) *Header, check func(*T) error) (*T, error) {
	data, err := read(r, limit, typ)
	if err != nil {
		return nil, err
	}
	return decodeLD(data, typ, hdr, check)
}

func noCheck[T any](*T) error { return nil }

func checkHeader(typ string, h *Header) error {
	if h == nil {
		return nil
	}
	if len(h.Context) == 0 {
		return malformed(typ, "@context", "required; must contain %q", Context)
	}
	ok := false
	for _, c := range h.Context {
		if c == Context {
			ok = true
		}
	}
	if !ok {
		return malformed(typ, "@context", "must contain %q", Context)
	}
	if h.Type != typ {
		if h.Type == "" {
			return malformed(typ, "@type", "required; must be %q", typ)
		}
		return malformed(typ, "@type", "is %q; this endpoint takes %q", h.Type, typ)
	}
	return nil
}

func required(typ string, fields ...string) error {
	for i := 0; i+1 < len(fields); i += 2 {
		if strings.TrimSpace(fields[i+1]) == "" {
			return malformed(typ, fields[i], "required")
		}
	}
	return nil
}

func checkPolicy(typ, field string, p *Policy, wantType string) error {
	if p.Type != wantType {
		return malformed(typ, field+".@type", "must be %q, got %q", wantType, p.Type)
	}
	if p.ID == "" {
		return malformed(typ, field+".@id", "required")
	}
	if len(p.Permission) == 0 && len(p.Prohibition) == 0 {
		return malformed(typ, field, "needs at least one permission or prohibition")
	}
	for i, r := range p.Permission {
		if err := checkRule(typ, fmt.Sprintf("%s.permission[%d]", field, i), r); err != nil {
			return err
		}
	}
	for i, r := range p.Prohibition {
		if err := checkRule(typ, fmt.Sprintf("%s.prohibition[%d]", field, i), r); err != nil {
			return err
		}
	}
	for i, r := range p.Obligation {
		if err := checkRule(typ, fmt.Sprintf("%s.obligation[%d]", field, i), r); err != nil {
			return err
		}
	}
	return nil
}

func checkRule(typ, field string, r Rule) error {
	if r.Action == "" {
		return malformed(typ, field+".action", "required")
	}
	for i, c := range r.Constraint {
		if err := checkConstraint(typ, fmt.Sprintf("%s.constraint[%d]", field, i), c, 0); err != nil {
			return err
		}
	}
	for i, d := range r.Duty {
		if err := checkRule(typ, fmt.Sprintf("%s.duty[%d]", field, i), d); err != nil {
			return err
		}
	}
	return nil
}

const maxConstraintDepth = 16

func checkConstraint(typ, field string, c Constraint, depth int) error {
	if depth > maxConstraintDepth {
		return malformed(typ, field, "constraints nested deeper than %d", maxConstraintDepth)
	}
	logical := 0
	var children []Constraint
	for _, l := range [][]Constraint{c.And, c.Or, c.Xone, c.AndSequence} {
		if l != nil {
			logical++
			children = l
		}
	}
	atomic := c.LeftOperand != "" || c.Operator != "" || len(c.RightOperand) > 0
	switch {
	case logical > 1 || logical == 1 && atomic:
		return malformed(typ, field, "must be exactly one of an atomic constraint or and/or/xone/andSequence")
	case logical == 1:
		for i, ch := range children {
			if err := checkConstraint(typ, fmt.Sprintf("%s[%d]", field, i), ch, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	if c.LeftOperand == "" {
		return malformed(typ, field+".leftOperand", "required")
	}
	if c.Operator == "" {
		return malformed(typ, field+".operator", "required")
	}
	if !operators[c.Operator] {
		return malformed(typ, field+".operator", "%q is not an ODRL operator DSP allows", c.Operator)
	}
	if len(c.RightOperand) == 0 {
		return malformed(typ, field+".rightOperand", "required")
	}
	switch c.RightOperand[0] {
	case '"', '{', '[':
	default:
		return malformed(typ, field+".rightOperand", "must be a string, object or array")
	}
	return nil
}

var operators = map[string]bool{
	"eq": true, "gt": true, "gteq": true, "lteq": true, "hasPart": true, "isA": true,
	"isAllOf": true, "isAnyOf": true, "isNoneOf": true, "isPartOf": true, "lt": true,
	"term-lteq": true, "neq": true,
}

func reasons(typ string, r []string) error {
	if len(r) > 64 {
		return malformed(typ, "reason", "at most 64 entries")
	}
	return nil
}

// DecodeCatalogRequest decodes a CatalogRequestMessage.
func DecodeCatalogRequest(r io.Reader) (*CatalogRequestMessage, error) {
	return readLD(r, MaxMessageBytes, TypeCatalogRequestMessage,
		func(m *CatalogRequestMessage) *Header { return &m.Header }, noCheck[CatalogRequestMessage])
}

// DecodeContractRequest decodes a ContractRequestMessage. An initial request
// (no providerPid) must carry callbackAddress.
func DecodeContractRequest(r io.Reader) (*ContractRequestMessage, error) {
	const t = TypeContractRequestMessage
	return readLD(r, MaxMessageBytes, t, func(m *ContractRequestMessage) *Header { return &m.Header },
		func(m *ContractRequestMessage) error {
			if err := required(t, "consumerPid", m.ConsumerPID); err != nil {
				return err
			}
			if m.ProviderPID == "" && m.CallbackAddress == "" {
				return malformed(t, "callbackAddress", "required when providerPid is absent (initial request)")
			}
			return checkPolicy(t, "offer", &m.Offer, TypeOffer)
		})
}

// DecodeContractOffer decodes a ContractOfferMessage.
func DecodeContractOffer(r io.Reader) (*ContractOfferMessage, error) {
	const t = TypeContractOfferMessage
	return readLD(r, MaxMessageBytes, t, func(m *ContractOfferMessage) *Header { return &m.Header },
		func(m *ContractOfferMessage) error {
			if err := required(t, "providerPid", m.ProviderPID); err != nil {
				return err
			}
			if m.ConsumerPID == "" && m.CallbackAddress == "" {
				return malformed(t, "callbackAddress", "required when consumerPid is absent (initial offer)")
			}
			return checkPolicy(t, "offer", &m.Offer, TypeOffer)
		})
}

// DecodeContractAgreement decodes a ContractAgreementMessage.
func DecodeContractAgreement(r io.Reader) (*ContractAgreementMessage, error) {
	const t = TypeContractAgreementMessage
	return readLD(r, MaxMessageBytes, t, func(m *ContractAgreementMessage) *Header { return &m.Header },
		func(m *ContractAgreementMessage) error {
			if err := required(t, "providerPid", m.ProviderPID, "consumerPid", m.ConsumerPID,
				"agreement.target", m.Agreement.Target, "agreement.assigner", m.Agreement.Assigner,
				"agreement.assignee", m.Agreement.Assignee); err != nil {
				return err
			}
			return checkPolicy(t, "agreement", &m.Agreement, TypeAgreement)
		})
}

// DecodeAgreementVerification decodes a ContractAgreementVerificationMessage.
func DecodeAgreementVerification(r io.Reader) (*ContractAgreementVerificationMessage, error) {
	const t = TypeContractAgreementVerificationMessage
	return readLD(r, MaxMessageBytes, t, func(m *ContractAgreementVerificationMessage) *Header { return &m.Header },
		func(m *ContractAgreementVerificationMessage) error {
			return required(t, "providerPid", m.ProviderPID, "consumerPid", m.ConsumerPID)
		})
}

// DecodeNegotiationEvent decodes a ContractNegotiationEventMessage.
func DecodeNegotiationEvent(r io.Reader) (*ContractNegotiationEventMessage, error) {
	const t = TypeContractNegotiationEventMessage
	return readLD(r, MaxMessageBytes, t, func(m *ContractNegotiationEventMessage) *Header { return &m.Header },
		func(m *ContractNegotiationEventMessage) error {
			if err := required(t, "providerPid", m.ProviderPID, "consumerPid", m.ConsumerPID); err != nil {
				return err
			}
			if m.EventType != EventAccepted && m.EventType != EventFinalized {
				return malformed(t, "eventType", "must be %q or %q, got %q", EventAccepted, EventFinalized, m.EventType)
			}
			return nil
		})
}

// DecodeNegotiationTermination decodes a ContractNegotiationTerminationMessage.
func DecodeNegotiationTermination(r io.Reader) (*ContractNegotiationTerminationMessage, error) {
	const t = TypeContractNegotiationTerminationMessage
	return readLD(r, MaxMessageBytes, t, func(m *ContractNegotiationTerminationMessage) *Header { return &m.Header },
		func(m *ContractNegotiationTerminationMessage) error {
			if err := required(t, "providerPid", m.ProviderPID, "consumerPid", m.ConsumerPID); err != nil {
				return err
			}
			return reasons(t, m.Reason)
		})
}

// DecodeContractNegotiation decodes a ContractNegotiation (a peer's response).
func DecodeContractNegotiation(r io.Reader) (*ContractNegotiation, error) {
	const t = TypeContractNegotiation
	return readLD(r, MaxMessageBytes, t, func(m *ContractNegotiation) *Header { return &m.Header },
		func(m *ContractNegotiation) error {
			if err := required(t, "providerPid", m.ProviderPID, "consumerPid", m.ConsumerPID, "state", m.State); err != nil {
				return err
			}
			switch NegotiationState(m.State) {
			case NegRequested, NegOffered, NegAccepted, NegAgreed, NegVerified, NegFinalized, NegTerminated:
				return nil
			}
			return malformed(t, "state", "%q is not a negotiation state", m.State)
		})
}

// DecodeTransferRequest decodes a TransferRequestMessage.
func DecodeTransferRequest(r io.Reader) (*TransferRequestMessage, error) {
	const t = TypeTransferRequestMessage
	return readLD(r, MaxMessageBytes, t, func(m *TransferRequestMessage) *Header { return &m.Header },
		func(m *TransferRequestMessage) error {
			if err := required(t, "consumerPid", m.ConsumerPID, "agreementId", m.AgreementID,
				"format", m.Format, "callbackAddress", m.CallbackAddress); err != nil {
				return err
			}
			return checkAddress(t, m.DataAddress)
		})
}

func checkAddress(t string, a *DataAddress) error {
	if a == nil {
		return nil
	}
	if a.Type != "DataAddress" {
		return malformed(t, "dataAddress.@type", "must be \"DataAddress\", got %q", a.Type)
	}
	if a.EndpointType == "" {
		return malformed(t, "dataAddress.endpointType", "required")
	}
	for i, p := range a.EndpointProperties {
		if p.Type != "EndpointProperty" {
			return malformed(t, fmt.Sprintf("dataAddress.endpointProperties[%d].@type", i), "must be \"EndpointProperty\"")
		}
		if p.Name == "" {
			return malformed(t, fmt.Sprintf("dataAddress.endpointProperties[%d].name", i), "required")
		}
	}
	return nil
}

// DecodeTransferStart decodes a TransferStartMessage.
func DecodeTransferStart(r io.Reader) (*TransferStartMessage, error) {
	const t = TypeTransferStartMessage
	return readLD(r, MaxMessageBytes, t, func(m *TransferStartMessage) *Header { return &m.Header },
		func(m *TransferStartMessage) error {
			if err := required(t, "providerPid", m.ProviderPID, "consumerPid", m.ConsumerPID); err != nil {
				return err
			}
			return checkAddress(t, m.DataAddress)
		})
}

// DecodeTransferCompletion decodes a TransferCompletionMessage.
func DecodeTransferCompletion(r io.Reader) (*TransferCompletionMessage, error) {
	const t = TypeTransferCompletionMessage
	return readLD(r, MaxMessageBytes, t, func(m *TransferCompletionMessage) *Header { return &m.Header },
		func(m *TransferCompletionMessage) error {
			return required(t, "providerPid", m.ProviderPID, "consumerPid", m.ConsumerPID)
		})
}

// DecodeTransferSuspension decodes a TransferSuspensionMessage.
func DecodeTransferSuspension(r io.Reader) (*TransferSuspensionMessage, error) {
	const t = TypeTransferSuspensionMessage
	return readLD(r, MaxMessageBytes, t, func(m *TransferSuspensionMessage) *Header { return &m.Header },
		func(m *TransferSuspensionMessage) error {
			if err := required(t, "providerPid", m.ProviderPID, "consumerPid", m.ConsumerPID); err != nil {
				return err
			}
			return reasons(t, m.Reason)
		})
}

// DecodeTransferTermination decodes a TransferTerminationMessage.
func DecodeTransferTermination(r io.Reader) (*TransferTerminationMessage, error) {
	const t = TypeTransferTerminationMessage
	return readLD(r, MaxMessageBytes, t, func(m *TransferTerminationMessage) *Header { return &m.Header },
		func(m *TransferTerminationMessage) error {
			if err := required(t, "providerPid", m.ProviderPID, "consumerPid", m.ConsumerPID); err != nil {
				return err
			}
			return reasons(t, m.Reason)
		})
}

// DecodeTransferProcess decodes a TransferProcess (a peer's response).
func DecodeTransferProcess(r io.Reader) (*TransferProcess, error) {
	const t = TypeTransferProcess
	return readLD(r, MaxMessageBytes, t, func(m *TransferProcess) *Header { return &m.Header },
		func(m *TransferProcess) error {
			if err := required(t, "providerPid", m.ProviderPID, "consumerPid", m.ConsumerPID, "state", m.State); err != nil {
				return err
			}
			switch TransferState(m.State) {
			case TransferRequested, TransferStarted, TransferSuspended, TransferCompleted, TransferTerminated:
				return nil
			}
			return malformed(t, "state", "%q is not a transfer state", m.State)
		})
}

// DecodeCatalog decodes a Catalog response.
func DecodeCatalog(r io.Reader) (*Catalog, error) {
	const t = TypeCatalog
	return readLD(r, MaxCatalogBytes, t, func(m *Catalog) *Header { return nil },
		func(m *Catalog) error {
			if err := checkHeader(t, &Header{Context: m.Context, Type: m.Type}); err != nil {
				return err
			}
			if err := required(t, "participantId", m.ParticipantID); err != nil {
				return err
			}
			for i, svc := range m.Service {
				if svc.Type != "DataService" {
					return malformed(t, fmt.Sprintf("service[%d].@type", i), "must be \"DataService\" (the DSP 2025-1 catalog schema), got %q", svc.Type)
				}
			}
			for i := range m.Dataset {
				if err := checkDataset(t, fmt.Sprintf("dataset[%d]", i), &m.Dataset[i]); err != nil {
					return err
				}
			}
			return nil
		})
}

// DecodeDataset decodes a Dataset response.
func DecodeDataset(r io.Reader) (*Dataset, error) {
	const t = TypeDataset
	return readLD(r, MaxMessageBytes, t, func(m *Dataset) *Header { return nil },
		func(m *Dataset) error {
			if err := checkHeader(t, &Header{Context: m.Context, Type: TypeDataset}); err != nil {
				return err
			}
			return checkDataset(t, "", m)
		})
}

func checkDataset(t, field string, d *Dataset) error {
	pre := field
	if pre != "" {
		pre += "."
	}
	if d.ID == "" {
		return malformed(t, pre+"@id", "required")
	}
	if len(d.HasPolicy) == 0 {
		return malformed(t, pre+"hasPolicy", "required: a dataset needs at least one offer")
	}
	for i := range d.HasPolicy {
		if err := checkPolicy(t, fmt.Sprintf("%shasPolicy[%d]", pre, i), &d.HasPolicy[i], TypeOffer); err != nil {
			return err
		}
	}
	if len(d.Distribution) == 0 {
		return malformed(t, pre+"distribution", "required")
	}
	for i, x := range d.Distribution {
		if x.Format == "" || x.AccessService.ID == "" {
			return malformed(t, fmt.Sprintf("%sdistribution[%d]", pre, i), "format and accessService are required")
		}
	}
	return nil
}

// DecodeErrorObject decodes one of the spec's error objects (CatalogError,
// ContractNegotiationError, TransferError) from a peer's error response.
func DecodeErrorObject(r io.Reader) (*Error, error) {
	const t = "Error"
	data, err := read(r, MaxMessageBytes, t)
	if err != nil {
		return nil, err
	}
	var m Error
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, malformed(t, "", "not valid JSON: %v", err)
	}
	switch m.Type {
	case TypeCatalogError, TypeContractNegotiationError, TypeTransferError:
	default:
		return nil, malformed(t, "@type", "%q is not a DSP error type", m.Type)
	}
	return &m, nil
}
