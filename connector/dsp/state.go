package dsp

// NegotiationState is a contract negotiation state (DSP 2025-1 §negotiation states).
type NegotiationState string

// Negotiation states.
const (
	NegRequested  NegotiationState = "REQUESTED"
	NegOffered    NegotiationState = "OFFERED"
	NegAccepted   NegotiationState = "ACCEPTED"
	NegAgreed     NegotiationState = "AGREED"
	NegVerified   NegotiationState = "VERIFIED"
	NegFinalized  NegotiationState = "FINALIZED"
	NegTerminated NegotiationState = "TERMINATED"
)

// Final reports whether no message moves a negotiation out of s.
func (s NegotiationState) Final() bool { return s == NegFinalized || s == NegTerminated }

// negTransitions lists the transitions the spec's state machine allows:
// REQUESTED -> OFFERED | AGREED; OFFERED -> REQUESTED | ACCEPTED;
// ACCEPTED -> AGREED; AGREED -> VERIFIED; VERIFIED -> FINALIZED;
// and any non-final state -> TERMINATED.
var negTransitions = map[NegotiationState][]NegotiationState{
	"":           {NegRequested, NegOffered},
	NegRequested: {NegOffered, NegAgreed},
	NegOffered:   {NegRequested, NegAccepted},
	NegAccepted:  {NegAgreed},
	NegAgreed:    {NegVerified},
	NegVerified:  {NegFinalized},
}

// CanMove reports whether the spec allows from -> to. From "" is a new negotiation.
func (s NegotiationState) CanMove(to NegotiationState) bool {
	if to == NegTerminated {
		return s != "" && !s.Final()
	}
	for _, t := range negTransitions[s] {
		if t == to {
			return true
		}
	}
	return false
}

// TransferState is a transfer process state.
type TransferState string

// Transfer states.
const (
	TransferRequested  TransferState = "REQUESTED"
	TransferStarted    TransferState = "STARTED"
	TransferSuspended  TransferState = "SUSPENDED"
	TransferCompleted  TransferState = "COMPLETED"
	TransferTerminated TransferState = "TERMINATED"
)

// Final reports whether no message moves a transfer out of s.
func (s TransferState) Final() bool { return s == TransferCompleted || s == TransferTerminated }

// transferTransitions: REQUESTED -> STARTED; STARTED -> SUSPENDED | COMPLETED;
// SUSPENDED -> STARTED; any non-final state -> TERMINATED.
var transferTransitions = map[TransferState][]TransferState{
	"":                {TransferRequested},
	TransferRequested: {TransferStarted},
	TransferStarted:   {TransferSuspended, TransferCompleted},
	TransferSuspended: {TransferStarted},
}

// CanMove reports whether the spec allows from -> to.
func (s TransferState) CanMove(to TransferState) bool {
	if to == TransferTerminated {
		return s != "" && !s.Final()
	}
	for _, t := range transferTransitions[s] {
		if t == to {
			return true
		}
	}
	return false
}
