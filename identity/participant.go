package identity

// Participant is a registered party of the space (unified identity registration),
// as the authority records it on the ledger (participant.registered / .updated).
// Connectors resolve each other's keys and attributes from it, never from the peer.
type Participant struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	Keys       []JWK    `json:"keys"`
	Region     string   `json:"region"`
	Industry   string   `json:"industry,omitempty"`
	OrgType    string   `json:"orgType,omitempty"`
	CreditCode string   `json:"creditCode,omitempty"`
	Member     []string `json:"member,omitempty"`
	// DID is the participant's decentralized identifier (did:web), when it
	// also authenticates with the Decentralized Claims Protocol; the
	// authority's credentials about it name this DID as their subject.
	DID string `json:"did,omitempty"`
	// Status is StatusActive or StatusSuspended.
	Status string `json:"status"`
}

// Participant statuses.
const (
	StatusActive    = "active"
	StatusSuspended = "suspended"
)

// Key returns the participant's key with the given kid.
func (p Participant) Key(kid string) (JWK, bool) {
	for _, k := range p.Keys {
		if k.Kid == kid {
			return k, true
		}
	}
	return JWK{}, false
}
