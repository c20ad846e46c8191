package rulebook

import (
	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/policy"
)

// State is what the rules read. Getters return (nil, nil) when the object
// does not exist; an error only for a failure of the underlying store.
type State interface {
	Participant(id string) (*identity.Participant, error)
	Rules() (*policy.SpaceRules, error)
	Dataset(id string) (*Dataset, error)
	Agreement(id string) (*Agreement, error)
	Transfer(id string) (*Transfer, error)
	Objection(id string) (*Objection, error)
	// Seen reports whether a record id is already on the ledger.
	Seen(recordID string) (bool, error)
	// KeyHolder returns the id of the participant registered on the ledger
	// with the key of thumbprint (KeyThumbprint), or "" when no participant
	// holds it. The authority's genesis keys are not in it: the rules read
	// them from the genesis.
	KeyHolder(thumbprint string) (string, error)
}

// Dataset is a registered dataset as the rules need it.
type Dataset struct {
	ID               string                `json:"id"`
	Owner            string                `json:"owner"`
	RegistrationCode string                `json:"registrationCode,omitempty"`
	Classification   policy.Classification `json:"classification"`
	Category         string                `json:"category"`
}

// Agreement is a signed agreement with its use count and owed duties.
type Agreement struct {
	ID        string `json:"id"`
	Provider  string `json:"provider"`
	Consumer  string `json:"consumer"`
	Dataset   string `json:"dataset"`
	NotBefore string `json:"notBefore,omitempty"`
	NotAfter  string `json:"notAfter,omitempty"`
	MaxUses   int    `json:"maxUses,omitempty"`
	Uses      int    `json:"uses"`
	Revoked   bool   `json:"revoked,omitempty"`
	// Evidence is the agreement's evidence level: policy.EvidenceCountersigned
	// or policy.EvidenceAcknowledged (empty in state written before it).
	Evidence string `json:"evidence,omitempty"`
	// Duties maps each owed duty id to whether it was fulfilled.
	Duties map[string]bool `json:"duties,omitempty"`
	// ComputeOnly and GroupSize are the terms' (ledger.Terms): no transfer
	// under a compute-only agreement; each run's flow is judged as one
	// that stays with its holder, with aggregates of GroupSize rows.
	ComputeOnly bool `json:"computeOnly,omitempty"`
	GroupSize   int  `json:"groupSize,omitempty"`
}

// Transfer is an authorised transfer and which of its parties recorded its
// completion: each party (provider and consumer) records at most one
// transfer.completed.
type Transfer struct {
	ID        string `json:"id"`
	Agreement string `json:"agreement"`
	Provider  string `json:"provider"`
	Consumer  string `json:"consumer"`
	// Completed is set by the first completion of either party. A transfer
	// stored with Completed set and neither CompletedBy flag was completed
	// under the one-completion rule of earlier versions; it takes no more.
	Completed bool `json:"completed,omitempty"`
	// CompletedByProvider and CompletedByConsumer say which party recorded
	// its completion.
	CompletedByProvider bool `json:"completedByProvider,omitempty"`
	CompletedByConsumer bool `json:"completedByConsumer,omitempty"`
}

// Objection is a filed objection and whether it was resolved.
type Objection struct {
	ID       string `json:"id"`
	Filer    string `json:"filer"`
	Subject  string `json:"subject,omitempty"`
	Dataset  string `json:"dataset,omitempty"`
	Resolved bool   `json:"resolved,omitempty"`
}

// KeyEntry is an entry of the key index: the participant holding the key of
// Thumbprint (KeyThumbprint), or none when Participant is empty, which frees
// the key for others.
type KeyEntry struct {
	Thumbprint  string `json:"thumbprint"`
	Participant string `json:"participant,omitempty"`
}

// Change is one write a record makes to state; exactly one field is set.
// Seen marks a record id used. A participant's change comes with the Key
// changes that keep the key index in step with its keys.
type Change struct {
	Participant *identity.Participant `json:"participant,omitempty"`
	Rules       *policy.SpaceRules    `json:"rules,omitempty"`
	Dataset     *Dataset              `json:"dataset,omitempty"`
	Agreement   *Agreement            `json:"agreement,omitempty"`
	Transfer    *Transfer             `json:"transfer,omitempty"`
	Objection   *Objection            `json:"objection,omitempty"`
	Seen        string                `json:"seen,omitempty"`
	Key         *KeyEntry             `json:"key,omitempty"`
}
