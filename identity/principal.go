package identity

import (
	"errors"
	"fmt"
)

// Principal is a verified reader of the ledger: its role, and its subject —
// for RoleParticipant the participant whose records it reads. The ledger
// service and the audit dashboard both build it from a role token
// (PrincipalOf) and ask ledger.Visible what it may see.
type Principal struct {
	ID   string `json:"id"`
	Role string `json:"role"`
}

// ErrBadPrincipal reports a role token whose role is unknown, or a
// participant token without a subject. Obtain a new token.
var ErrBadPrincipal = errors.New("identity: bad principal")

// PrincipalOf is the principal a verified role token speaks for.
func PrincipalOf(c *RoleClaims) Principal { return Principal{ID: c.Subject, Role: c.Role} }

// SeesAll reports whether the principal may see every record: auditors and regulators.
func (p Principal) SeesAll() bool { return p.Role == RoleAuditor || p.Role == RoleRegulator }

// Validate checks the role is one of the Role constants and a participant
// names itself.
func (p Principal) Validate() error {
	switch p.Role {
	case RoleAuditor, RoleRegulator:
		return nil
	case RoleParticipant:
		if p.ID == "" {
			return fmt.Errorf("%w: participant role without a participant", ErrBadPrincipal)
		}
		return nil
	}
	return fmt.Errorf("%w: unknown role %q", ErrBadPrincipal, p.Role)
}
