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

// unmarshal decodes data into v and checks the header.
func unmarshal(data []byte, typ string, v any, h *Header) error {
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
	const t = TypeCatalogRequestMessage
	data, err := read(r, MaxMessageBytes, t)
	if err != nil {
		return nil, err
	}
	var m CatalogRequestMessage
	if err := unmarshal(data, t, &m, &m.Header); err != nil {
		return nil, err
	}
	return &m, nil
}

// DecodeContractRequest decodes a ContractRequestMessage. An initial request
// (no providerPid) must carry callbackAddress.
func DecodeContractRequest(r io.Reader) (*ContractRequestMessage, error) {
	const t = TypeContractRequestMessage
	data, err := read(r, MaxMessageBytes, t)
	if err != nil {
		return nil, err
	}
	var m ContractRequestMessage
	if err := unmarshal(data, t, &m, &m.Header); err != nil {
		return nil, err
	}
	if err := required(t, "consumerPid", m.ConsumerPID); err != nil {
		return nil, err
	}
	if m.ProviderPID == "" && m.CallbackAddress == "" {
		return nil, malformed(t, "callbackAddress", "required when providerPid is absent (initial request)")
	}
	if err := checkPolicy(t, "offer", &m.Offer, TypeOffer); err != nil {
		return nil, err
	}
	return &m, nil
}

// DecodeContractOffer decodes a ContractOfferMessage.
func DecodeContractOffer(r io.Reader) (*ContractOfferMessage, error) {
	const t = TypeContractOfferMessage
	data, err := read(r, MaxMessageBytes, t)
	if err != nil {
		return nil, err
	}
	var m ContractOfferMessage
	if err := unmarshal(data, t, &m, &m.Header); err != nil {
		return nil, err
	}
	if err := required(t, "providerPid", m.ProviderPID); err != nil {
		return nil, err
	}
	if m.ConsumerPID == "" && m.CallbackAddress == "" {
		return nil, malformed(t, "callbackAddress", "required when consumerPid is absent (initial offer)")
	}
	if err := checkPolicy(t, "offer", &m.Offer, TypeOffer); err != nil {
		return nil, err
	}
	return &m, nil
}

// DecodeContractAgreement decodes a ContractAgreementMessage.
func DecodeContractAgreement(r io.Reader) (*ContractAgreementMessage, error) {
	const t = TypeContractAgreementMessage
	data, err := read(r, MaxMessageBytes, t)
	if err != nil {
		return nil, err
	}
	var m ContractAgreementMessage
	if err := unmarshal(data, t, &m, &m.Header); err != nil {
		return nil, err
	}
	if err := required(t, "providerPid", m.ProviderPID, "consumerPid", m.ConsumerPID,
		"agreement.target", m.Agreement.Target, "agreement.assigner", m.Agreement.Assigner,
		"agreement.assignee", m.Agreement.Assignee); err != nil {
		return nil, err
	}
	if err := checkPolicy(t, "agreement", &m.Agreement, TypeAgreement); err != nil {
		return nil, err
	}
	return &m, nil
}

// DecodeAgreementVerification decodes a ContractAgreementVerificationMessage.
func DecodeAgreementVerification(r io.Reader) (*ContractAgreementVerificationMessage, error) {
	const t = TypeContractAgreementVerificationMessage
	data, err := read(r, MaxMessageBytes, t)
	if err != nil {
		return nil, err
	}
	var m ContractAgreementVerificationMessage
	if err := unmarshal(data, t, &m, &m.Header); err != nil {
		return nil, err
	}
	if err := required(t, "providerPid", m.ProviderPID, "consumerPid", m.ConsumerPID); err != nil {
		return nil, err
	}
	return &m, nil
}

// DecodeNegotiationEvent decodes a ContractNegotiationEventMessage.
func DecodeNegotiationEvent(r io.Reader) (*ContractNegotiationEventMessage, error) {
	const t = TypeContractNegotiationEventMessage
	data, err := read(r, MaxMessageBytes, t)
	if err != nil {
		return nil, err
	}
	var m ContractNegotiationEventMessage
	if err := unmarshal(data, t, &m, &m.Header); err != nil {
		return nil, err
	}
	if err := required(t, "providerPid", m.ProviderPID, "consumerPid", m.ConsumerPID); err != nil {
		return nil, err
	}
	if m.EventType != EventAccepted && m.EventType != EventFinalized {
		return nil, malformed(t, "eventType", "must be %q or %q, got %q", EventAccepted, EventFinalized, m.EventType)
	}
	return &m, nil
}

// DecodeNegotiationTermination decodes a ContractNegotiationTerminationMessage.
func DecodeNegotiationTermination(r io.Reader) (*ContractNegotiationTerminationMessage, error) {
	const t = TypeContractNegotiationTerminationMessage
	data, err := read(r, MaxMessageBytes, t)
	if err != nil {
		return nil, err
	}
	var m ContractNegotiationTerminationMessage
	if err := unmarshal(data, t, &m, &m.Header); err != nil {
		return nil, err
	}
	if err := required(t, "providerPid", m.ProviderPID, "consumerPid", m.ConsumerPID); err != nil {
		return nil, err
	}
	return &m, reasons(t, m.Reason)
}

// DecodeContractNegotiation decodes a ContractNegotiation (a peer's response).
func DecodeContractNegotiation(r io.Reader) (*ContractNegotiation, error) {
	const t = TypeContractNegotiation
	data, err := read(r, MaxMessageBytes, t)
	if err != nil {
		return nil, err
	}
	var m ContractNegotiation
	if err := unmarshal(data, t, &m, &m.Header); err != nil {
		return nil, err
	}
	if err := required(t, "providerPid", m.ProviderPID, "consumerPid", m.ConsumerPID, "state", m.State); err != nil {
		return nil, err
	}
	switch NegotiationState(m.State) {
	case NegRequested, NegOffered, NegAccepted, NegAgreed, NegVerified, NegFinalized, NegTerminated:
	default:
		return nil, malformed(t, "state", "%q is not a negotiation state", m.State)
	}
	return &m, nil
}

// DecodeTransferRequest decodes a TransferRequestMessage.
func DecodeTransferRequest(r io.Reader) (*TransferRequestMessage, error) {
	const t = TypeTransferRequestMessage
	data, err := read(r, MaxMessageBytes, t)
	if err != nil {
		return nil, err
	}
	var m TransferRequestMessage
	if err := unmarshal(data, t, &m, &m.Header); err != nil {
		return nil, err
	}
	if err := required(t, "consumerPid", m.ConsumerPID, "agreementId", m.AgreementID,
		"format", m.Format, "callbackAddress", m.CallbackAddress); err != nil {
		return nil, err
	}
	return &m, checkAddress(t, m.DataAddress)
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
	data, err := read(r, MaxMessageBytes, t)
	if err != nil {
		return nil, err
	}
	var m TransferStartMessage
	if err := unmarshal(data, t, &m, &m.Header); err != nil {
		return nil, err
	}
	if err := required(t, "providerPid", m.ProviderPID, "consumerPid", m.ConsumerPID); err != nil {
		return nil, err
	}
	return &m, checkAddress(t, m.DataAddress)
}

// DecodeTransferCompletion decodes a TransferCompletionMessage.
func DecodeTransferCompletion(r io.Reader) (*TransferCompletionMessage, error) {
	const t = TypeTransferCompletionMessage
	data, err := read(r, MaxMessageBytes, t)
	if err != nil {
		return nil, err
	}
	var m TransferCompletionMessage
	if err := unmarshal(data, t, &m, &m.Header); err != nil {
		return nil, err
	}
	return &m, required(t, "providerPid", m.ProviderPID, "consumerPid", m.ConsumerPID)
}

// DecodeTransferSuspension decodes a TransferSuspensionMessage.
func DecodeTransferSuspension(r io.Reader) (*TransferSuspensionMessage, error) {
	const t = TypeTransferSuspensionMessage
	data, err := read(r, MaxMessageBytes, t)
	if err != nil {
		return nil, err
	}
	var m TransferSuspensionMessage
	if err := unmarshal(data, t, &m, &m.Header); err != nil {
		return nil, err
	}
	if err := required(t, "providerPid", m.ProviderPID, "consumerPid", m.ConsumerPID); err != nil {
		return nil, err
	}
	return &m, reasons(t, m.Reason)
}

// DecodeTransferTermination decodes a TransferTerminationMessage.
func DecodeTransferTermination(r io.Reader) (*TransferTerminationMessage, error) {
	const t = TypeTransferTerminationMessage
	data, err := read(r, MaxMessageBytes, t)
	if err != nil {
		return nil, err
	}
	var m TransferTerminationMessage
	if err := unmarshal(data, t, &m, &m.Header); err != nil {
		return nil, err
	}
	if err := required(t, "providerPid", m.ProviderPID, "consumerPid", m.ConsumerPID); err != nil {
		return nil, err
	}
	return &m, reasons(t, m.Reason)
}

// DecodeTransferProcess decodes a TransferProcess (a peer's response).
func DecodeTransferProcess(r io.Reader) (*TransferProcess, error) {
	const t = TypeTransferProcess
	data, err := read(r, MaxMessageBytes, t)
	if err != nil {
		return nil, err
	}
	var m TransferProcess
	if err := unmarshal(data, t, &m, &m.Header); err != nil {
		return nil, err
	}
	if err := required(t, "providerPid", m.ProviderPID, "consumerPid", m.ConsumerPID, "state", m.State); err != nil {
		return nil, err
	}
	switch TransferState(m.State) {
	case TransferRequested, TransferStarted, TransferSuspended, TransferCompleted, TransferTerminated:
	default:
		return nil, malformed(t, "state", "%q is not a transfer state", m.State)
	}
	return &m, nil
}

// DecodeCatalog decodes a Catalog response.
func DecodeCatalog(r io.Reader) (*Catalog, error) {
	const t = TypeCatalog
	data, err := read(r, MaxCatalogBytes, t)
	if err != nil {
		return nil, err
	}
	var m Catalog
	if err := unmarshal(data, t, &m, nil); err != nil {
		return nil, err
	}
	if err := checkHeader(t, &Header{Context: m.Context, Type: m.Type}); err != nil {
		return nil, err
	}
	if err := required(t, "participantId", m.ParticipantID); err != nil {
		return nil, err
	}
	for i := range m.Dataset {
		if err := checkDataset(t, fmt.Sprintf("dataset[%d]", i), &m.Dataset[i]); err != nil {
			return nil, err
		}
	}
	return &m, nil
}

// DecodeDataset decodes a Dataset response.
func DecodeDataset(r io.Reader) (*Dataset, error) {
	const t = TypeDataset
	data, err := read(r, MaxMessageBytes, t)
	if err != nil {
		return nil, err
	}
	var m Dataset
	if err := unmarshal(data, t, &m, nil); err != nil {
		return nil, err
	}
	if err := checkHeader(t, &Header{Context: m.Context, Type: TypeDataset}); err != nil {
		return nil, err
	}
	return &m, checkDataset(t, "", &m)
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
