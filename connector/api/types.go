package api

import (
	"encoding/json"
	"fmt"

	"github.com/tdsc/tdsc/connector/dsp"
)

// Role is the side this node plays in a negotiation, agreement or transfer.
type Role string

// Roles.
const (
	RoleProvider Role = "provider"
	RoleConsumer Role = "consumer"
)

// NegotiationState is a contract negotiation's DSP state.
type NegotiationState = dsp.NegotiationState

// TransferState is a transfer process's DSP state.
type TransferState = dsp.TransferState

// AgreementState is an agreement's state at this node.
type AgreementState string

// Agreement states.
const (
	AgreementPending AgreementState = "pending"
	AgreementActive  AgreementState = "active"
	AgreementRevoked AgreementState = "revoked"
)

// DutyState is a duty's state.
type DutyState string

// Duty states.
const (
	DutyOwed      DutyState = "owed"
	DutyFulfilled DutyState = "fulfilled"
)

// Dataset is a dataset this node provides.
type Dataset struct {
	ID             string   `json:"id"`
	Title          string   `json:"title"`
	Description    string   `json:"description,omitempty"`
	Classification string   `json:"classification"`
	Category       string   `json:"category"`
	Rights         []string `json:"rights"`
	ContentHash    string   `json:"contentHash"`
	Source         string   `json:"source"`
	ManualApproval bool     `json:"manualApproval"`
	CreatedAt      string   `json:"createdAt"`
}

// Offer is a dataset offered under an ODRL policy (as published).
type Offer struct {
	ID         string          `json:"id"`
	DatasetID  string          `json:"dataset"`
	Policy     json.RawMessage `json:"policy"`
	PolicyHash string          `json:"policyHash"`
	CreatedAt  string          `json:"createdAt"`
}

// Transition is one state change with who caused it and why.
type Transition struct {
	Seq    int    `json:"seq"`
	From   string `json:"from"`
	To     string `json:"to"`
	Actor  string `json:"actor"`
	Reason string `json:"reason"`
	At     string `json:"at"`
}

// Negotiation is one contract negotiation as this node sees it; ID is this
// node's process id (providerPid as provider, consumerPid as consumer).
type Negotiation struct {
	ID           string           `json:"id"`
	Role         Role             `json:"role"`
	PeerPID      string           `json:"peerPid"`
	Counterparty string           `json:"counterparty"`
	PeerURL      string           `json:"peerUrl"`
	DatasetID    string           `json:"dataset"`
	OfferID      string           `json:"offer"`
	Offer        json.RawMessage  `json:"offerPolicy,omitempty"`
	State        NegotiationState `json:"state"`
	// Awaiting says what the negotiation waits for, e.g. "operator approval".
	Awaiting    string       `json:"awaiting,omitempty"`
	AgreementID string       `json:"agreement,omitempty"`
	Code        string       `json:"code,omitempty"`
	Rule        string       `json:"rule,omitempty"`
	Reason      string       `json:"reason,omitempty"`
	Purpose     string       `json:"purpose,omitempty"`
	LegalBasis  string       `json:"legalBasis,omitempty"`
	CreatedAt   string       `json:"createdAt"`
	UpdatedAt   string       `json:"updatedAt"`
	History     []Transition `json:"history,omitempty"`
}

// Agreement is a contract agreement, provider or consumer side.
type Agreement struct {
	ID            string          `json:"id"`
	NegotiationID string          `json:"negotiation"`
	Role          Role            `json:"role"`
	Provider      string          `json:"provider"`
	Consumer      string          `json:"consumer"`
	ProviderURL   string          `json:"providerUrl"`
	DatasetID     string          `json:"dataset"`
	Policy        json.RawMessage `json:"policy"`
	PolicyHash    string          `json:"policyHash"`
	Terms         json.RawMessage `json:"terms"`
	State         AgreementState  `json:"state"`
	Uses          int             `json:"uses"`
	RecordID      string          `json:"recordId,omitempty"`
	Reason        string          `json:"reason,omitempty"`
	SignedAt      string          `json:"signedAt,omitempty"`
	Purpose       string          `json:"purpose,omitempty"`
	LegalBasis    string          `json:"legalBasis,omitempty"`
	UpdatedAt     string          `json:"updatedAt"`
}

// Transfer is one transfer process, provider or consumer side.
type Transfer struct {
	ID           string          `json:"id"`
	Role         Role            `json:"role"`
	PeerPID      string          `json:"peerPid"`
	Counterparty string          `json:"counterparty"`
	PeerURL      string          `json:"peerUrl"`
	AgreementID  string          `json:"agreement"`
	DatasetID    string          `json:"dataset"`
	Format       string          `json:"format"`
	State        TransferState   `json:"state"`
	DataAddress  json.RawMessage `json:"dataAddress,omitempty"`
	TokenID      string          `json:"tokenId,omitempty"`
	Code         string          `json:"code,omitempty"`
	Rule         string          `json:"rule,omitempty"`
	Reason       string          `json:"reason,omitempty"`
	CreatedAt    string          `json:"createdAt"`
	UpdatedAt    string          `json:"updatedAt"`
	History      []Transition    `json:"history,omitempty"`
}

// Address decodes the transfer's data address (endpoint and properties);
// a transfer that has none yet is an error naming the transfer.
func (x *Transfer) Address() (dsp.DataAddress, error) {
	var a dsp.DataAddress
	if len(x.DataAddress) == 0 {
		return a, fmt.Errorf("transfer %s: no data address (state %s)", x.ID, x.State)
	}
	if err := json.Unmarshal(x.DataAddress, &a); err != nil {
		return a, fmt.Errorf("transfer %s: dataAddress: %w", x.ID, err)
	}
	return a, nil
}

// Duty is a duty owed under an agreement.
type Duty struct {
	AgreementID string    `json:"agreement"`
	DutyID      string    `json:"id"`
	Action      string    `json:"action"`
	Due         string    `json:"due,omitempty"`
	State       DutyState `json:"state"`
	RecordID    string    `json:"recordId,omitempty"`
	UpdatedAt   string    `json:"updatedAt"`
	// Overdue is computed when listed: owed and past Due.
	Overdue bool `json:"overdue,omitempty"`
}

// OutboxRecord is one ledger record in the node's outbox.
type OutboxRecord struct {
	RecordID  string          `json:"recordId"`
	Seq       int64           `json:"seq"`
	Record    json.RawMessage `json:"record"`
	State     string          `json:"state"`
	BatchRoot string          `json:"batchRoot,omitempty"`
	Solo      bool            `json:"solo,omitempty"`
	Error     string          `json:"error,omitempty"`
	CreatedAt string          `json:"createdAt"`
	UpdatedAt string          `json:"updatedAt"`
}

// OutboxStatus is what the outbox holds: counts by state, refused and
// pending records.
type OutboxStatus struct {
	Counts        map[string]int  `json:"counts"`
	LedgerHealthy bool            `json:"ledgerHealthy"`
	Refused       []*OutboxRecord `json:"refused"`
	Pending       []*OutboxRecord `json:"pending"`
}

// Identity is how the node identifies itself (GET /api/v1/identity): its
// participant id and, when it speaks DCP (config did), its DID, the issuers
// it trusts, the credentials it holds and what its credential keeper last did.
type Identity struct {
	ParticipantID  string        `json:"participantId"`
	DID            string        `json:"did,omitempty"`
	TrustedIssuers []string      `json:"trustedIssuers,omitempty"`
	Credentials    []Credential  `json:"credentials"`
	Keeper         *KeeperStatus `json:"keeper,omitempty"`
}

// Credential is a verifiable credential the node holds.
type Credential struct {
	ID         string   `json:"id"`
	Issuer     string   `json:"issuer"`
	Types      []string `json:"types"`
	ValidFrom  string   `json:"validFrom,omitempty"`
	ValidUntil string   `json:"validUntil,omitempty"`
	Expired    bool     `json:"expired"`
	// Delivered: an issuer delivered it (kept in dataDir/dcp-credentials.json);
	// otherwise it comes from the configuration's credentialFiles.
	Delivered bool `json:"delivered"`
}

// KeeperStatus is what the node's credential keeper (config
// credentialIssuer) last did.
type KeeperStatus struct {
	Issuer     string `json:"issuer"`
	Renewed    string `json:"renewed,omitempty"`
	Credential string `json:"credential,omitempty"`
	Reason     string `json:"reason,omitempty"`
	Error      string `json:"error,omitempty"`
	Failed     string `json:"failed,omitempty"`
}

// ComputeResult is what a consumer gets back from a computation run at the
// provider (POST /api/v1/agreements/{id}/compute; docs/sandbox.md): the
// run's id as recorded in compute.executed, the program's hash, the result's
// hash (checked against the result), the CPU time used and the result.
type ComputeResult struct {
	Run        string `json:"run"`
	Program    string `json:"program"`
	OutputHash string `json:"outputHash"`
	CPUMillis  int64  `json:"cpuMillis"`
	Output     []byte `json:"output"`
}
