package dsp

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tdsc/tdsc/connector/dsp/dspschema"
)

// decoders by @type, for the official examples and the fuzz test.
var decoders = map[string]func(io.Reader) (any, error){
	TypeCatalogRequestMessage:                 func(r io.Reader) (any, error) { return DecodeCatalogRequest(r) },
	TypeCatalog:                               func(r io.Reader) (any, error) { return DecodeCatalog(r) },
	TypeDataset:                               func(r io.Reader) (any, error) { return DecodeDataset(r) },
	TypeContractRequestMessage:                func(r io.Reader) (any, error) { return DecodeContractRequest(r) },
	TypeContractOfferMessage:                  func(r io.Reader) (any, error) { return DecodeContractOffer(r) },
	TypeContractAgreementMessage:              func(r io.Reader) (any, error) { return DecodeContractAgreement(r) },
	TypeContractAgreementVerificationMessage:  func(r io.Reader) (any, error) { return DecodeAgreementVerification(r) },
	TypeContractNegotiationEventMessage:       func(r io.Reader) (any, error) { return DecodeNegotiationEvent(r) },
	TypeContractNegotiationTerminationMessage: func(r io.Reader) (any, error) { return DecodeNegotiationTermination(r) },
	TypeContractNegotiation:                   func(r io.Reader) (any, error) { return DecodeContractNegotiation(r) },
	TypeTransferRequestMessage:                func(r io.Reader) (any, error) { return DecodeTransferRequest(r) },
	TypeTransferStartMessage:                  func(r io.Reader) (any, error) { return DecodeTransferStart(r) },
	TypeTransferCompletionMessage:             func(r io.Reader) (any, error) { return DecodeTransferCompletion(r) },
	TypeTransferSuspensionMessage:             func(r io.Reader) (any, error) { return DecodeTransferSuspension(r) },
	TypeTransferTerminationMessage:            func(r io.Reader) (any, error) { return DecodeTransferTermination(r) },
	TypeTransferProcess:                       func(r io.Reader) (any, error) { return DecodeTransferProcess(r) },
	TypeCatalogError:                          func(r io.Reader) (any, error) { return DecodeErrorObject(r) },
	TypeContractNegotiationError:              func(r io.Reader) (any, error) { return DecodeErrorObject(r) },
	TypeTransferError:                         func(r io.Reader) (any, error) { return DecodeErrorObject(r) },
}

// TestOfficialExamples decodes every official example with our strict decoder
// and validates it against its schema (the schema check proves the loader works).
func TestOfficialExamples(t *testing.T) {
	files, err := filepath.Glob("dspschema/testdata/schemas/*/example/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	seen := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var h struct {
			Type string `json:"@type"`
		}
		if err := json.Unmarshal(data, &h); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		dec, ok := decoders[h.Type]
		if !ok {
			continue // DataService / protocol-version examples are not messages
		}
		seen++
		t.Run(filepath.Base(f), func(t *testing.T) {
			if _, err := dec(bytes.NewReader(data)); err != nil {
				t.Errorf("decode: %v", err)
			}
			if h.Type == TypeDataset {
				return // dataset.json example lacks @context required by its own root schema
			}
			if err := dspschema.Validate(data); err != nil {
				t.Errorf("schema: %v", err)
			}
		})
	}
	if seen < 20 {
		t.Errorf("decoded %d examples, want at least 20", seen)
	}
}

func offer(target string) Policy {
	return Policy{ID: "urn:offer:1", Type: TypeOffer, Target: target,
		Permission: []Rule{{Action: "use", Constraint: []Constraint{{LeftOperand: "purpose", Operator: "eq", RightOperand: json.RawMessage(`"research"`)}}}},
		Obligation: []Rule{{Action: "delete"}}}
}

// Samples returns one of each message type we send, built the way the
// connector builds them.
func samples() map[string]any {
	addr := &DataAddress{Type: "DataAddress", EndpointType: "https://w3id.org/idsa/v4.1/HTTP", Endpoint: "http://127.0.0.1/data/x",
		EndpointProperties: []EndpointProperty{{Type: "EndpointProperty", Name: "authorization", Value: "t"}}}
	catalogOffer := offer("")
	agreement := offer("urn:ds:1")
	agreement.Type, agreement.ID, agreement.Assigner, agreement.Assignee, agreement.Timestamp = TypeAgreement, "urn:agr:1", "did:p", "did:c", "2025-01-01T00:00:00Z"
	agreement.Terms = &Terms{PolicyHash: "abc", MaxUses: 3, Duties: []Duty{{ID: "d1", Action: "delete", Due: "2025-02-01T00:00:00Z"}}}
	ds := Dataset{ID: "urn:ds:1", Type: TypeDataset, Title: "t", HasPolicy: []Policy{catalogOffer},
		Distribution: []Distribution{{Type: "Distribution", Format: "HttpData-PULL", AccessService: ServiceRef{ID: "urn:svc"}}}}
	dsRoot := ds
	dsRoot.Context = DefaultContext()
	return map[string]any{
		TypeCatalogRequestMessage: &CatalogRequestMessage{Header: NewHeader(TypeCatalogRequestMessage)},
		TypeCatalog: &Catalog{Context: DefaultContext(), ID: "urn:cat", Type: TypeCatalog, ParticipantID: "did:p",
			Service: []DataService{{ID: "urn:svc", Type: "DataService", EndpointURL: "http://127.0.0.1"}}, Dataset: []Dataset{ds}},
		TypeDataset:                &dsRoot,
		TypeContractRequestMessage: &ContractRequestMessage{Header: NewHeader(TypeContractRequestMessage), ConsumerPID: "c1", Offer: offer("urn:ds:1"), CallbackAddress: "http://127.0.0.1/callback"},
		TypeContractOfferMessage:   &ContractOfferMessage{Header: NewHeader(TypeContractOfferMessage), ProviderPID: "p1", ConsumerPID: "c1", Offer: offer("urn:ds:1")},
		TypeContractAgreementMessage: &ContractAgreementMessage{Header: NewHeader(TypeContractAgreementMessage), ProviderPID: "p1", ConsumerPID: "c1",
			Agreement: agreement},
		TypeContractAgreementVerificationMessage:  &ContractAgreementVerificationMessage{Header: NewHeader(TypeContractAgreementVerificationMessage), ProviderPID: "p1", ConsumerPID: "c1", KeyID: "k", Signature: "s"},
		TypeContractNegotiationEventMessage:       &ContractNegotiationEventMessage{Header: NewHeader(TypeContractNegotiationEventMessage), ProviderPID: "p1", ConsumerPID: "c1", EventType: EventFinalized},
		TypeContractNegotiationTerminationMessage: &ContractNegotiationTerminationMessage{Header: NewHeader(TypeContractNegotiationTerminationMessage), ProviderPID: "p1", ConsumerPID: "c1", Code: "policy.denied", Reason: []string{"purpose must be research"}},
		TypeContractNegotiation:                   &ContractNegotiation{Header: NewHeader(TypeContractNegotiation), ProviderPID: "p1", ConsumerPID: "c1", State: string(NegRequested)},
		TypeTransferRequestMessage:                &TransferRequestMessage{Header: NewHeader(TypeTransferRequestMessage), ConsumerPID: "c2", AgreementID: "urn:agr:1", Format: "HttpData-PULL", CallbackAddress: "http://127.0.0.1/callback"},
		TypeTransferStartMessage:                  &TransferStartMessage{Header: NewHeader(TypeTransferStartMessage), ProviderPID: "p2", ConsumerPID: "c2", DataAddress: addr},
		TypeTransferCompletionMessage:             &TransferCompletionMessage{Header: NewHeader(TypeTransferCompletionMessage), ProviderPID: "p2", ConsumerPID: "c2"},
		TypeTransferSuspensionMessage:             &TransferSuspensionMessage{Header: NewHeader(TypeTransferSuspensionMessage), ProviderPID: "p2", ConsumerPID: "c2", Reason: []string{"paused"}},
		TypeTransferTerminationMessage:            &TransferTerminationMessage{Header: NewHeader(TypeTransferTerminationMessage), ProviderPID: "p2", ConsumerPID: "c2", Code: "agreement.revoked", Reason: []string{"revoked"}},
		TypeTransferProcess:                       &TransferProcess{Header: NewHeader(TypeTransferProcess), ProviderPID: "p2", ConsumerPID: "c2", State: string(TransferStarted)},
		TypeCatalogError:                          &Error{Header: NewHeader(TypeCatalogError), Code: "404", Reason: []string{"no such dataset"}},
		TypeContractNegotiationError:              &Error{Header: NewHeader(TypeContractNegotiationError), ProviderPID: "p1", ConsumerPID: "c1", Code: "400", Reason: []string{"x"}},
		TypeTransferError:                         &Error{Header: NewHeader(TypeTransferError), ProviderPID: "p2", ConsumerPID: "c2", Code: "400", Reason: []string{"x"}},
	}
}

// TestOurMessagesValidate marshals one of each message type we send and
// validates it against the official schema, then decodes it back.
func TestOurMessagesValidate(t *testing.T) {
	s := samples()
	for _, typ := range dspschema.Types() {
		if typ == TypeDatasetRequestMessage {
			continue // we serve datasets by GET; we never send this message
		}
		if typ == "VersionResponse" {
			continue // not a message: TestVersionResponse
		}
		m, ok := s[typ]
		if !ok {
			t.Errorf("no sample for %s", typ)
			continue
		}
		t.Run(typ, func(t *testing.T) {
			data, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			if err := dspschema.Validate(data); err != nil {
				t.Errorf("%v\n%s", err, data)
			}
			if _, err := decoders[typ](bytes.NewReader(data)); err != nil {
				t.Errorf("decode our own message: %v", err)
			}
		})
	}
}

// TestPushMessagesValidate: a push transfer's request carries the consumer's
// data address (its receiver and the token it issued to the provider), and
// its start message carries none; both validate and decode.
func TestPushMessagesValidate(t *testing.T) {
	addr := &DataAddress{Type: "DataAddress", EndpointType: "https://w3id.org/idsa/v4.1/HTTP", Endpoint: "http://127.0.0.1:9/push/c2",
		EndpointProperties: []EndpointProperty{{Type: "EndpointProperty", Name: "authorization", Value: "eyJ.x.y"}, {Type: "EndpointProperty", Name: "authType", Value: "DPoP"}}}
	for typ, m := range map[string]any{
		TypeTransferRequestMessage: &TransferRequestMessage{Header: NewHeader(TypeTransferRequestMessage), ConsumerPID: "c2", AgreementID: "urn:agr:1",
			Format: "HttpData-PUSH", DataAddress: addr, CallbackAddress: "http://127.0.0.1/callback"},
		TypeTransferStartMessage: &TransferStartMessage{Header: NewHeader(TypeTransferStartMessage), ProviderPID: "p2", ConsumerPID: "c2"},
	} {
		data, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if err := dspschema.Validate(data); err != nil {
			t.Errorf("%s: %v\n%s", typ, err, data)
		}
		if _, err := decoders[typ](bytes.NewReader(data)); err != nil {
			t.Errorf("%s: decode our own message: %v", typ, err)
		}
	}
}

func TestDecodeRefusals(t *testing.T) {
	tests := []struct {
		name, body, field string
		dec               func(io.Reader) (any, error)
		want              error
	}{
		{"wrong type", `{"@context":["` + Context + `"],"@type":"ContractOfferMessage"}`, "@type", decoders[TypeContractRequestMessage], ErrMalformed},
		{"no context", `{"@type":"ContractRequestMessage"}`, "@context", decoders[TypeContractRequestMessage], ErrMalformed},
		{"no consumerPid", `{"@context":["` + Context + `"],"@type":"ContractRequestMessage","offer":{}}`, "consumerPid", decoders[TypeContractRequestMessage], ErrMalformed},
		{"initial without callback", `{"@context":["` + Context + `"],"@type":"ContractRequestMessage","consumerPid":"c","offer":{}}`, "callbackAddress", decoders[TypeContractRequestMessage], ErrMalformed},
		{"offer without rules", `{"@context":["` + Context + `"],"@type":"ContractRequestMessage","consumerPid":"c","callbackAddress":"x","offer":{"@type":"Offer","@id":"o"}}`, "offer", decoders[TypeContractRequestMessage], ErrMalformed},
		{"bad operator", `{"@context":["` + Context + `"],"@type":"ContractRequestMessage","consumerPid":"c","callbackAddress":"x","offer":{"@type":"Offer","@id":"o","permission":[{"action":"use","constraint":[{"leftOperand":"a","operator":"like","rightOperand":"b"}]}]}}`, "offer.permission[0].constraint[0].operator", decoders[TypeContractRequestMessage], ErrMalformed},
		{"bad event", `{"@context":["` + Context + `"],"@type":"ContractNegotiationEventMessage","providerPid":"p","consumerPid":"c","eventType":"DONE"}`, "eventType", decoders[TypeContractNegotiationEventMessage], ErrMalformed},
		{"wrong field type", `{"@context":["` + Context + `"],"@type":"TransferCompletionMessage","providerPid":1,"consumerPid":"c"}`, "providerPid", decoders[TypeTransferCompletionMessage], ErrMalformed},
		{"trailing", `{"@context":["` + Context + `"],"@type":"TransferCompletionMessage","providerPid":"p","consumerPid":"c"} {}`, "", decoders[TypeTransferCompletionMessage], ErrMalformed},
		{"too large", `{"@context":["` + Context + `"],"@type":"TransferCompletionMessage","providerPid":"` + strings.Repeat("x", MaxMessageBytes) + `"}`, "", decoders[TypeTransferCompletionMessage], ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.dec(strings.NewReader(tt.body))
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			var de *DecodeError
			if !errors.As(err, &de) || de.Field != tt.field {
				t.Fatalf("err = %#v, want field %q", err, tt.field)
			}
		})
	}
}

func TestNegotiationTransitions(t *testing.T) {
	allowed := map[[2]NegotiationState]bool{
		{"", NegRequested}: true, {"", NegOffered}: true,
		{NegRequested, NegOffered}: true, {NegRequested, NegAgreed}: true,
		{NegOffered, NegRequested}: true, {NegOffered, NegAccepted}: true,
		{NegAccepted, NegAgreed}: true, {NegAgreed, NegVerified}: true, {NegVerified, NegFinalized}: true,
	}
	all := []NegotiationState{"", NegRequested, NegOffered, NegAccepted, NegAgreed, NegVerified, NegFinalized, NegTerminated}
	for _, from := range all {
		for _, to := range all[1:] {
			want := allowed[[2]NegotiationState{from, to}] || to == NegTerminated && from != "" && !from.Final()
			if got := from.CanMove(to); got != want {
				t.Errorf("%q -> %q: CanMove = %v, want %v", from, to, got, want)
			}
		}
	}
}

func TestTransferTransitions(t *testing.T) {
	allowed := map[[2]TransferState]bool{
		{"", TransferRequested}: true, {TransferRequested, TransferStarted}: true,
		{TransferStarted, TransferSuspended}: true, {TransferStarted, TransferCompleted}: true,
		{TransferSuspended, TransferStarted}: true,
	}
	all := []TransferState{"", TransferRequested, TransferStarted, TransferSuspended, TransferCompleted, TransferTerminated}
	for _, from := range all {
		for _, to := range all[1:] {
			want := allowed[[2]TransferState{from, to}] || to == TransferTerminated && from != "" && !from.Final()
			if got := from.CanMove(to); got != want {
				t.Errorf("%q -> %q: CanMove = %v, want %v", from, to, got, want)
			}
		}
	}
}
