package dsp

import "encoding/json"

// Context is the JSON-LD context every DSP 2025-1 message carries.
const Context = "https://w3id.org/dspace/2025/1/context.jsonld"

// DefaultContext is the @context value written on every message we send.
func DefaultContext() []string { return []string{Context} }

// Message @type values.
const (
	TypeCatalogRequestMessage                 = "CatalogRequestMessage"
	TypeDatasetRequestMessage                 = "DatasetRequestMessage"
	TypeCatalog                               = "Catalog"
	TypeDataset                               = "Dataset"
	TypeCatalogError                          = "CatalogError"
	TypeContractRequestMessage                = "ContractRequestMessage"
	TypeContractOfferMessage                  = "ContractOfferMessage"
	TypeContractAgreementMessage              = "ContractAgreementMessage"
	TypeContractAgreementVerificationMessage  = "ContractAgreementVerificationMessage"
	TypeContractNegotiationEventMessage       = "ContractNegotiationEventMessage"
	TypeContractNegotiationTerminationMessage = "ContractNegotiationTerminationMessage"
	TypeContractNegotiation                   = "ContractNegotiation"
	TypeContractNegotiationError              = "ContractNegotiationError"
	TypeTransferRequestMessage                = "TransferRequestMessage"
	TypeTransferStartMessage                  = "TransferStartMessage"
	TypeTransferCompletionMessage             = "TransferCompletionMessage"
	TypeTransferSuspensionMessage             = "TransferSuspensionMessage"
	TypeTransferTerminationMessage            = "TransferTerminationMessage"
	TypeTransferProcess                       = "TransferProcess"
	TypeTransferError                         = "TransferError"
)

// Policy @type values.
const (
	TypeOffer     = "Offer"
	TypeAgreement = "Agreement"
)

// Negotiation event types (ContractNegotiationEventMessage.eventType).
const (
	EventAccepted  = "ACCEPTED"
	EventFinalized = "FINALIZED"
)

// Contexts is a message's @context: the JSON-LD form is a string or an
// array; we write an array (the DSP schemas require one).
type Contexts []string

// UnmarshalJSON accepts a string or an array of strings. A context object
// (an inline context) is refused here, and the message goes to the JSON-LD
// processor instead (see decodeLD).
func (c *Contexts) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*c = Contexts{s}
		return nil
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return err
	}
	*c = l
	return nil
}

// withTDSC adds TDSCContext to c when the message carries tdsc: terms, so a
// standard peer reading plain DSP messages never meets tdsc's context.
func withTDSC(c Contexts, uses bool) Contexts {
	if !uses || len(c) == 0 {
		return c
	}
	for _, x := range c {
		if x == TDSCContext {
			return c
		}
	}
	return append(append(Contexts(nil), c...), TDSCContext)
}

// Header is what every message has.
type Header struct {
	Context Contexts `json:"@context"`
	Type    string   `json:"@type"`
}

// CatalogRequestMessage asks a provider for its catalogue.
type CatalogRequestMessage struct {
	Header
	Filter []json.RawMessage `json:"filter,omitempty"`
}

// DatasetRequestMessage asks for one dataset.
type DatasetRequestMessage struct {
	Header
	Dataset string `json:"dataset"`
}

// Catalog is a DCAT catalogue whose datasets carry ODRL offers (hasPolicy).
type Catalog struct {
	Context       Contexts      `json:"@context,omitempty"`
	ID            string        `json:"@id"`
	Type          string        `json:"@type"`
	ParticipantID string        `json:"participantId"`
	Service       []DataService `json:"service,omitempty"`
	Dataset       []Dataset     `json:"dataset,omitempty"`
}

// DataService is the endpoint serving a catalogue's distributions.
type DataService struct {
	ID          string `json:"@id"`
	Type        string `json:"@type"`
	EndpointURL string `json:"endpointURL,omitempty"`
}

// Dataset is a DCAT dataset with its offers. Title and Description are
// dct:title and dct:description; the tdsc: fields are declared by TDSCContext.
type Dataset struct {
	Context        Contexts       `json:"@context,omitempty"`
	ID             string         `json:"@id"`
	Type           string         `json:"@type"`
	Title          string         `json:"dct:title,omitempty"`
	Description    string         `json:"dct:description,omitempty"`
	Classification string         `json:"tdsc:classification,omitempty"`
	Category       string         `json:"tdsc:category,omitempty"`
	ContentHash    string         `json:"tdsc:contentHash,omitempty"`
	HasPolicy      []Policy       `json:"hasPolicy"`
	Distribution   []Distribution `json:"distribution"`
}

// Distribution says how a dataset is delivered.
type Distribution struct {
	Type          string     `json:"@type"`
	Format        string     `json:"format"`
	AccessService ServiceRef `json:"accessService"`
}

// ServiceRef is a distribution's accessService: the @id of a DataService
// (how we write it) or an inline DataService (which peers may send).
type ServiceRef struct {
	ID      string
	Service *DataService
}

// MarshalJSON writes the inline service if there is one, else the id.
func (r ServiceRef) MarshalJSON() ([]byte, error) {
	if r.Service != nil {
		return json.Marshal(r.Service)
	}
	return json.Marshal(r.ID)
}

// UnmarshalJSON accepts a string or a DataService object.
func (r *ServiceRef) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '{' {
		var s DataService
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		r.ID, r.Service = s.ID, &s
		return nil
	}
	r.Service = nil
	return json.Unmarshal(b, &r.ID)
}

// Policy is an ODRL policy as DSP carries it: an Offer (in a catalogue or a
// contract message) or an Agreement. Target, Assigner, Assignee and Timestamp
// are set on agreements (and Target on offers inside contract messages).
type Policy struct {
	ID          string `json:"@id"`
	Type        string `json:"@type"`
	Profile     string `json:"profile,omitempty"`
	Target      string `json:"target,omitempty"`
	Assigner    string `json:"assigner,omitempty"`
	Assignee    string `json:"assignee,omitempty"`
	Timestamp   string `json:"timestamp,omitempty"`
	Permission  []Rule `json:"permission,omitempty"`
	Prohibition []Rule `json:"prohibition,omitempty"`
	Obligation  []Rule `json:"obligation,omitempty"`
	Terms       *Terms `json:"tdsc:terms,omitempty"`
}

// Rule is an ODRL permission, prohibition or duty.
type Rule struct {
	Action     string       `json:"action"`
	Constraint []Constraint `json:"constraint,omitempty"`
	Duty       []Rule       `json:"duty,omitempty"`
}

// Constraint is an ODRL atomic constraint (leftOperand, operator,
// rightOperand) or a logical one (and, or, xone, andSequence).
type Constraint struct {
	LeftOperand  string          `json:"leftOperand,omitempty"`
	Operator     string          `json:"operator,omitempty"`
	RightOperand json.RawMessage `json:"rightOperand,omitempty"`
	And          []Constraint    `json:"and,omitempty"`
	Or           []Constraint    `json:"or,omitempty"`
	Xone         []Constraint    `json:"xone,omitempty"`
	AndSequence  []Constraint    `json:"andSequence,omitempty"`
}

// Terms is the tdsc extension carried on an Agreement: the limits and duties
// the provider will record in agreement.signed, so the consumer can sign
// exactly what goes on the ledger (ledger.TermsMessage).
type Terms struct {
	PolicyHash string `json:"policyHash"`
	NotBefore  string `json:"notBefore,omitempty"`
	NotAfter   string `json:"notAfter,omitempty"`
	MaxUses    int    `json:"maxUses,omitempty"`
	Duties     []Duty `json:"duties,omitempty"`
	// ComputeOnly and GroupSize: the agreement grants only computations
	// where the data is, with results aggregate-only in groups of at least
	// GroupSize rows (ledger.Terms).
	ComputeOnly bool `json:"computeOnly,omitempty"`
	GroupSize   int  `json:"groupSize,omitempty"`
}

// Duty is one duty the consumer owes under an agreement.
type Duty struct {
	ID     string `json:"id"`
	Action string `json:"action"`
	Due    string `json:"due,omitempty"`
}

// ContractRequestMessage is sent by a consumer to start (no providerPid,
// callbackAddress set) or continue a negotiation.
type ContractRequestMessage struct {
	Header
	ProviderPID     string `json:"providerPid,omitempty"`
	ConsumerPID     string `json:"consumerPid"`
	Offer           Policy `json:"offer"`
	CallbackAddress string `json:"callbackAddress,omitempty"`
	// Purpose and LegalBasis are tdsc extensions: the purpose the consumer
	// states (policies judge it) and the legal basis of a cross-border flow.
	Purpose    string `json:"tdsc:purpose,omitempty"`
	LegalBasis string `json:"tdsc:legalBasis,omitempty"`
	// Profiles are the tdsc profiles the consumer supports
	// (ProfileCountersigned): the provider uses one only if listed here.
	Profiles []string `json:"tdsc:profile,omitempty"`
}

// ContractOfferMessage is sent by a provider with a (counter-)offer.
type ContractOfferMessage struct {
	Header
	ProviderPID     string `json:"providerPid"`
	ConsumerPID     string `json:"consumerPid,omitempty"`
	Offer           Policy `json:"offer"`
	CallbackAddress string `json:"callbackAddress,omitempty"`
}

// ContractAgreementMessage carries the provider's agreement.
type ContractAgreementMessage struct {
	Header
	ProviderPID     string `json:"providerPid"`
	ConsumerPID     string `json:"consumerPid"`
	Agreement       Policy `json:"agreement"`
	CallbackAddress string `json:"callbackAddress,omitempty"`
}

// ContractAgreementVerificationMessage is the consumer's verification of an
// agreement. Signature is the tdsc extension carrying the consumer's
// counter-signature over ledger.TermsMessage (base64url) and its key id.
type ContractAgreementVerificationMessage struct {
	Header
	ProviderPID string `json:"providerPid"`
	ConsumerPID string `json:"consumerPid"`
	KeyID       string `json:"tdsc:keyId,omitempty"`
	Signature   string `json:"tdsc:signature,omitempty"`
}

// ContractNegotiationEventMessage announces ACCEPTED (consumer) or FINALIZED (provider).
type ContractNegotiationEventMessage struct {
	Header
	ProviderPID string `json:"providerPid"`
	ConsumerPID string `json:"consumerPid"`
	EventType   string `json:"eventType"`
}

// ContractNegotiationTerminationMessage ends a negotiation, with a reason.
type ContractNegotiationTerminationMessage struct {
	Header
	ProviderPID string   `json:"providerPid"`
	ConsumerPID string   `json:"consumerPid"`
	Code        string   `json:"code,omitempty"`
	Reason      []string `json:"reason,omitempty"`
}

// ContractNegotiation is the state of a negotiation as a peer reports it.
type ContractNegotiation struct {
	Header
	ProviderPID string `json:"providerPid"`
	ConsumerPID string `json:"consumerPid"`
	State       string `json:"state"`
}

// DataAddress says where and how data is to be fetched or pushed.
type DataAddress struct {
	Type               string             `json:"@type"`
	EndpointType       string             `json:"endpointType"`
	Endpoint           string             `json:"endpoint,omitempty"`
	EndpointProperties []EndpointProperty `json:"endpointProperties,omitempty"`
}

// EndpointProperty is one name/value of a DataAddress (e.g. authorization).
type EndpointProperty struct {
	Type  string `json:"@type"`
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Property returns the value of the named endpoint property.
func (a *DataAddress) Property(name string) string {
	if a == nil {
		return ""
	}
	for _, p := range a.EndpointProperties {
		if p.Name == name {
			return p.Value
		}
	}
	return ""
}

// TransferRequestMessage is a consumer's request to transfer data under an agreement.
type TransferRequestMessage struct {
	Header
	ConsumerPID     string       `json:"consumerPid"`
	AgreementID     string       `json:"agreementId"`
	Format          string       `json:"format"`
	DataAddress     *DataAddress `json:"dataAddress,omitempty"`
	CallbackAddress string       `json:"callbackAddress"`
}

// TransferStartMessage starts (or resumes) a transfer; for pull transfers it
// carries the provider's data address with the access token.
type TransferStartMessage struct {
	Header
	ProviderPID string       `json:"providerPid"`
	ConsumerPID string       `json:"consumerPid"`
	DataAddress *DataAddress `json:"dataAddress,omitempty"`
}

// TransferCompletionMessage marks a transfer done.
type TransferCompletionMessage struct {
	Header
	ProviderPID string `json:"providerPid"`
	ConsumerPID string `json:"consumerPid"`
}

// TransferSuspensionMessage suspends a transfer, with a reason.
type TransferSuspensionMessage struct {
	Header
	ProviderPID string   `json:"providerPid"`
	ConsumerPID string   `json:"consumerPid"`
	Code        string   `json:"code,omitempty"`
	Reason      []string `json:"reason,omitempty"`
}

// TransferTerminationMessage ends a transfer, with a reason.
type TransferTerminationMessage struct {
	Header
	ProviderPID string   `json:"providerPid"`
	ConsumerPID string   `json:"consumerPid"`
	Code        string   `json:"code,omitempty"`
	Reason      []string `json:"reason,omitempty"`
}

// TransferProcess is the state of a transfer as a peer reports it.
type TransferProcess struct {
	Header
	ProviderPID string `json:"providerPid"`
	ConsumerPID string `json:"consumerPid"`
	State       string `json:"state"`
}

// Error is the spec's error object: CatalogError, ContractNegotiationError or
// TransferError (by Type). Reason says, for a person, what to do.
type Error struct {
	Header
	ProviderPID string   `json:"providerPid,omitempty"`
	ConsumerPID string   `json:"consumerPid,omitempty"`
	Code        string   `json:"code,omitempty"`
	Reason      []string `json:"reason,omitempty"`
}

func (e *Error) Error() string {
	s := e.Type
	if e.Code != "" {
		s += " " + e.Code
	}
	for i, r := range e.Reason {
		if i == 0 {
			s += ": "
		} else {
			s += "; "
		}
		s += r
	}
	return s
}

// NewHeader returns a header with the DSP context and the given type.
func NewHeader(typ string) Header { return Header{Context: DefaultContext(), Type: typ} }

// PIDs are the provider's and the consumer's process ids a message names.
func (m *ContractOfferMessage) PIDs() (string, string)     { return m.ProviderPID, m.ConsumerPID }
func (m *ContractRequestMessage) PIDs() (string, string)   { return m.ProviderPID, m.ConsumerPID }
func (m *ContractAgreementMessage) PIDs() (string, string) { return m.ProviderPID, m.ConsumerPID }
func (m *ContractAgreementVerificationMessage) PIDs() (string, string) {
	return m.ProviderPID, m.ConsumerPID
}
func (m *ContractNegotiationEventMessage) PIDs() (string, string) {
	return m.ProviderPID, m.ConsumerPID
}
func (m *ContractNegotiationTerminationMessage) PIDs() (string, string) {
	return m.ProviderPID, m.ConsumerPID
}

// The messages that may carry tdsc: terms list TDSCContext when they do.

// MarshalJSON writes the message with TDSCContext if it carries tdsc: terms.
func (m ContractRequestMessage) MarshalJSON() ([]byte, error) {
	type plain ContractRequestMessage
	m.Context = withTDSC(m.Context, m.Purpose != "" || m.LegalBasis != "" || m.Offer.Terms != nil || len(m.Profiles) > 0)
	return json.Marshal(plain(m))
}

// MarshalJSON writes the message with TDSCContext if it carries tdsc: terms.
func (m ContractOfferMessage) MarshalJSON() ([]byte, error) {
	type plain ContractOfferMessage
	m.Context = withTDSC(m.Context, m.Offer.Terms != nil)
	return json.Marshal(plain(m))
}

// MarshalJSON writes the message with TDSCContext if it carries tdsc: terms.
func (m ContractAgreementMessage) MarshalJSON() ([]byte, error) {
	type plain ContractAgreementMessage
	m.Context = withTDSC(m.Context, m.Agreement.Terms != nil)
	return json.Marshal(plain(m))
}

// MarshalJSON writes the message with TDSCContext if it carries tdsc: terms.
func (m ContractAgreementVerificationMessage) MarshalJSON() ([]byte, error) {
	type plain ContractAgreementVerificationMessage
	m.Context = withTDSC(m.Context, m.KeyID != "" || m.Signature != "")
	return json.Marshal(plain(m))
}

func (d *Dataset) usesTDSC() bool {
	if d.Classification != "" || d.Category != "" || d.ContentHash != "" {
		return true
	}
	for i := range d.HasPolicy {
		if d.HasPolicy[i].Terms != nil {
			return true
		}
	}
	return false
}

// MarshalJSON writes the dataset with TDSCContext if it carries tdsc: terms.
func (d Dataset) MarshalJSON() ([]byte, error) {
	type plain Dataset
	d.Context = withTDSC(d.Context, d.usesTDSC())
	return json.Marshal(plain(d))
}

// MarshalJSON writes the catalogue with TDSCContext if a dataset carries tdsc: terms.
func (c Catalog) MarshalJSON() ([]byte, error) {
	type plain Catalog
	uses := false
	for i := range c.Dataset {
		uses = uses || c.Dataset[i].usesTDSC()
	}
	c.Context = withTDSC(c.Context, uses)
	return json.Marshal(plain(c))
}
