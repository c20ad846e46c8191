package api

import "encoding/json"

// NewDataset is the operator's registration of a dataset (POST /datasets).
type NewDataset struct {
	ID             string   `json:"id,omitempty"`
	Title          string   `json:"title"`
	Description    string   `json:"description,omitempty"`
	Classification string   `json:"classification"`
	Category       string   `json:"category"`
	Rights         []string `json:"rights,omitempty"`
	ContentHash    string   `json:"contentHash,omitempty"`
	Source         string   `json:"source,omitempty"`
	// RegistrationCode is the registration number (数据登记) if one was issued.
	RegistrationCode string `json:"registrationCode,omitempty"`
	ManualApproval   bool   `json:"manualApproval,omitempty"`
}

// NewOffer is the operator's offer of a dataset under an ODRL policy (POST /offers).
type NewOffer struct {
	ID      string          `json:"id,omitempty"`
	Dataset string          `json:"dataset"`
	Policy  json.RawMessage `json:"policy"`
}

// StartNegotiation asks the node to negotiate an offer of another
// connector's catalogue (POST /negotiations).
type StartNegotiation struct {
	// ProviderURL is the provider's DSP base URL (required).
	ProviderURL string `json:"providerUrl"`
	// Provider is the provider's participant id; discovered from
	// /.well-known/dspace-version when empty.
	Provider string `json:"provider,omitempty"`
	// Offer is the @id of an offer in the provider's catalogue (required).
	Offer      string `json:"offer"`
	Purpose    string `json:"purpose,omitempty"`
	LegalBasis string `json:"legalBasis,omitempty"`
}

// CounterOffer is the body of POST /negotiations/{id}/counter.
type CounterOffer struct {
	Policy json.RawMessage `json:"policy"`
	Reason string          `json:"reason,omitempty"`
	// Hold (provider) keeps the negotiation for the operator once the
	// consumer accepts the counter-offer: it agrees only on …/approve. By
	// default the provider agrees on acceptance. A consumer's counter (to
	// an offer it rests on, with manualOffers) ignores it.
	Hold bool `json:"hold,omitempty"`
}

// Reason is the optional body of the state-changing actions
// (approve, reject, revoke, suspend, terminate, complete, resume).
type Reason struct {
	Reason string `json:"reason,omitempty"`
}

// StartTransfer is the operator's request for a transfer (POST /transfers).
type StartTransfer struct {
	Agreement string `json:"agreement"`
	// Format is HttpData-PULL (default) or HttpData-PUSH.
	Format string `json:"format,omitempty"`
}

// Receipt is what the consumer received of a pull (POST /transfers/{id}/receipt):
// the bytes and their hash, as SHA256 (hex; an intl space) or ContentHash
// ("sha256:<hex>", or "sm3:<hex>" in a gm space).
type Receipt struct {
	Bytes       int64  `json:"bytes"`
	SHA256      string `json:"sha256,omitempty"`
	ContentHash string `json:"contentHash,omitempty"`
}

// ExpectedHash is GET /transfers/{id}/expected-hash: the hash a download is
// checked against.
type ExpectedHash struct {
	ContentHash string `json:"contentHash,omitempty"`
	// Source is "ledger" (the provider's dataset.registered) or "provider"
	// (the data address, when the ledger's registration cannot be read).
	Source string `json:"source,omitempty"`
}

// FulfilDuty is the body of POST /duties/fulfil.
type FulfilDuty struct {
	Agreement string `json:"agreement"`
	Duty      string `json:"duty"`
}

// Until values for GET /transfers/{id}?wait=…&until=….
const (
	// UntilStarted waits until the transfer leaves REQUESTED (the default).
	UntilStarted = "started"
	// UntilDone waits until it is COMPLETED, TERMINATED or SUSPENDED.
	UntilDone = "done"
	// UntilResumed waits until it leaves SUSPENDED.
	UntilResumed = "resumed"
)
