package ledger

import "github.com/tdsc/tdsc/identity"

// Genesis fixes a space at creation: its id and the authority whose key is
// pinned for participant.* and rules.updated records. `tdsc authority init`
// writes it; every ledger backend is created from it and refuses a different one.
type Genesis struct {
	Space     string               `json:"space"`
	Authority identity.Participant `json:"authority"`
	Created   string               `json:"created"`
}
