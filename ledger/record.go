package ledger

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/policy"
)

// SchemaVersion is the version of the record schema written by this code. A
// record with another version is refused by the decoder.
const SchemaVersion = 1

// Kind names what a record says happened.
type Kind string

const (
	KindParticipantRegistered Kind = "participant.registered"
	KindParticipantUpdated    Kind = "participant.updated"
	KindRulesUpdated          Kind = "rules.updated"
	KindDatasetRegistered     Kind = "dataset.registered"
	KindOfferPublished        Kind = "offer.published"
	KindAgreementSigned       Kind = "agreement.signed"
	KindNegotiationDenied     Kind = "negotiation.denied"
	KindAgreementRevoked      Kind = "agreement.revoked"
	KindTransferAuthorized    Kind = "transfer.authorized"
	KindTransferCompleted     Kind = "transfer.completed"
	KindTransferDenied        Kind = "transfer.denied"
	KindUsageLogged           Kind = "usage.logged"
	KindDutyFulfilled         Kind = "duty.fulfilled"
	KindObjectionFiled        Kind = "objection.filed"
	KindObjectionResolved     Kind = "objection.resolved"
	// KindComputeExecuted is a program run at the provider under an
	// agreement (docs/sandbox.md): allowed, it counts as a use and its result
	// left; denied, it names the rule and nothing left.
	KindComputeExecuted Kind = "compute.executed"
)

// Kinds lists every kind the schema knows, in lifecycle order.
var Kinds = []Kind{
	KindParticipantRegistered, KindParticipantUpdated, KindRulesUpdated,
	KindDatasetRegistered, KindOfferPublished, KindAgreementSigned,
	KindNegotiationDenied, KindAgreementRevoked, KindTransferAuthorized,
	KindTransferCompleted, KindTransferDenied, KindUsageLogged,
	KindDutyFulfilled, KindObjectionFiled, KindObjectionResolved,
	KindComputeExecuted,
}

// Known reports whether k is a kind of this schema version.
func (k Kind) Known() bool {
	for _, x := range Kinds {
		if x == k {
			return true
		}
	}
	return false
}

// Rights a participant may hold over a dataset (数据资源持有权, 数据加工使用权,
// 数据产品经营权).
const (
	RightHolding   = "holding"
	RightUse       = "use"
	RightOperation = "operation"
)

// Decisions.
const (
	DecisionAllow = "allow"
	DecisionDeny  = "deny"
)

// Record is one entry on the ledger: metadata and hashes only, never data.
// The common fields carry what a regulator asks of a flow; the optional
// sub-objects carry what one kind needs. Times are RFC 3339 with an offset.
//
// A record's identity on the ledger is the RFC 6962 leaf hash of its canonical
// encoding (Canonical). Field order and omitempty tags are part of the schema:
// changing them changes every hash, so bump SchemaVersion instead.
type Record struct {
	Schema int    `json:"schema"`
	ID     string `json:"id"`
	Kind   Kind   `json:"kind"`
	Time   string `json:"time"`
	// Actor is the participant the record speaks for; it must be the batch's writer
	// (the authority writes participant.* and rules.updated).
	Actor        string `json:"actor"`
	Counterparty string `json:"counterparty,omitempty"`

	Dataset          string                `json:"dataset,omitempty"`
	RegistrationCode string                `json:"registrationCode,omitempty"`
	Classification   policy.Classification `json:"classification,omitempty"`
	Category         string                `json:"category,omitempty"`
	Rights           []string              `json:"rights,omitempty"`

	Offer      string `json:"offer,omitempty"`
	Agreement  string `json:"agreement,omitempty"`
	PolicyHash string `json:"policyHash,omitempty"`
	Transfer   string `json:"transfer,omitempty"`
	TokenID    string `json:"tokenId,omitempty"`

	Decision string `json:"decision,omitempty"`
	Rule     string `json:"rule,omitempty"`
	Reason   string `json:"reason,omitempty"`

	Bytes       int64  `json:"bytes,omitempty"`
	ContentHash string `json:"contentHash,omitempty"`

	FromRegion  string `json:"fromRegion,omitempty"`
	ToRegion    string `json:"toRegion,omitempty"`
	CrossBorder bool   `json:"crossBorder,omitempty"`
	LegalBasis  string `json:"legalBasis,omitempty"`

	Participant *Participant       `json:"participant,omitempty"`
	Rules       *policy.SpaceRules `json:"rules,omitempty"`
	Terms       *Terms             `json:"terms,omitempty"`
	Duty        *Duty              `json:"duty,omitempty"`
	Objection   *Objection         `json:"objection,omitempty"`
	Compute     *Compute           `json:"compute,omitempty"`
}

// Compute is what a compute.executed record meters: the program and the input
// it ran on, what came out, and what it used. A denied run before the program
// started has no input, output or usage; a denied run after it has them but
// its output did not leave. The record's Bytes is the bytes that left.
type Compute struct {
	Run string `json:"run"`
	// Program, InputHash and OutputHash are "sha256:" and lower-case hex.
	Program     string `json:"program"`
	InputHash   string `json:"inputHash,omitempty"`
	InputBytes  int64  `json:"inputBytes,omitempty"`
	OutputHash  string `json:"outputHash,omitempty"`
	OutputBytes int64  `json:"outputBytes,omitempty"`
	CPUMillis   int64  `json:"cpuMillis,omitempty"`
	// PeakMemory is the program's largest linear memory, in bytes.
	PeakMemory int64 `json:"peakMemory,omitempty"`
}

// Participant is a registered party of the space; see identity.Participant.
type Participant = identity.Participant

// Terms are what an agreement.signed record fixes: the limits the rulebook
// enforces on later transfers and the duties the consumer owes, and the
// evidence of the consumer's assent. With countersigned evidence (Evidence
// "" or "countersigned") the consumer counter-signs them (ConsumerSignature
// over TermsMessage), so the record is signed by both parties: the provider
// through its batch signature. With acknowledged evidence — a standard DSP
// consumer that does not support tdsc's countersigned profile — the record
// names the consumer's authenticated verification message instead: the id
// of the protocol token it came with and the hash of its body.
type Terms struct {
	NotBefore string `json:"notBefore,omitempty"`
	NotAfter  string `json:"notAfter,omitempty"`
	// MaxUses is the number of uses allowed (transfer.authorized and allowed
	// compute.executed records together); 0 is unlimited.
	MaxUses int    `json:"maxUses,omitempty"`
	Duties  []Duty `json:"duties,omitempty"`
	// ComputeOnly says the agreement grants computations where the data is
	// and nothing else: no transfer.authorized is accepted under it, and the
	// space rules judge it as a flow that stays with its holder when its
	// results are aggregate-only (policy.SpaceRules.CheckFlow). GroupSize is
	// that aggregate-only rule (the least k of its groupSize gteq k), 0 for
	// none. Both are in TermsMessage: the consumer signs them.
	ComputeOnly bool `json:"computeOnly,omitempty"`
	GroupSize   int  `json:"groupSize,omitempty"`
	// ConsumerKeyID and ConsumerSignature (base64url) are the consumer's
	// signature over TermsMessage.
	ConsumerKeyID     string `json:"consumerKeyId"`
	ConsumerSignature string `json:"consumerSignature"`
	// Evidence is policy.EvidenceCountersigned (also when empty, as in
	// records written before the field existed) or policy.EvidenceAcknowledged.
	Evidence string `json:"evidence,omitempty"`
	// VerificationTokenID (jti) and VerificationHash ("sha256:<hex>", "sm3:<hex>" in a gm space, of the
	// message body) identify the consumer's verification message; set with
	// acknowledged evidence only.
	VerificationTokenID string `json:"verificationTokenId,omitempty"`
	VerificationHash    string `json:"verificationHash,omitempty"`
}

// EvidenceLevel is the terms' evidence level, countersigned when unset.
func (t *Terms) EvidenceLevel() string {
	if t == nil || t.Evidence == "" {
		return policy.EvidenceCountersigned
	}
	return t.Evidence
}

// Duty is an obligation owed under an agreement: delete, log, notify, anonymise.
type Duty struct {
	ID     string `json:"id"`
	Action string `json:"action"`
	// Due is when the duty falls due, RFC 3339; empty for per-use duties.
	Due string `json:"due,omitempty"`
}

// Objection is a dispute filed about a dataset or agreement (数据异议).
type Objection struct {
	ID         string `json:"id"`
	Subject    string `json:"subject,omitempty"`
	Resolution string `json:"resolution,omitempty"`
}

// TermsMessage is the byte string a consumer signs to accept an agreement: the
// agreement id, both parties, the dataset, the policy hash and the limits,
// and for a compute-only agreement that it is (lines absent otherwise, so
// the message of every other agreement is what it always was).
func TermsMessage(r *Record) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "tdsc-agreement-v1\nagreement=%s\nprovider=%s\nconsumer=%s\ndataset=%s\npolicyHash=%s\n",
		r.Agreement, r.Actor, r.Counterparty, r.Dataset, r.PolicyHash)
	if r.Terms != nil {
		fmt.Fprintf(&b, "notBefore=%s\nnotAfter=%s\nmaxUses=%d\n", r.Terms.NotBefore, r.Terms.NotAfter, r.Terms.MaxUses)
		for _, d := range r.Terms.Duties {
			fmt.Fprintf(&b, "duty=%s,%s,%s\n", d.ID, d.Action, d.Due)
		}
		if r.Terms.ComputeOnly {
			fmt.Fprintf(&b, "computeOnly=true\ngroupSize=%d\n", r.Terms.GroupSize)
		}
	}
	return b.Bytes()
}

// Canonical is the record's canonical encoding: the bytes hashed into the tree.
func (r *Record) Canonical() ([]byte, error) {
	return json.Marshal(r)
}
