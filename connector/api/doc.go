// Package api holds the wire types of a connector's management API
// (/api/v1/): what an operator, the tdsc CLI or connector/client sends and
// receives. It has no server code; the connector's management layer converts
// its stored entities to these types, and connector/client decodes them.
//
// States are typed: NegotiationState and TransferState are the DSP states
// (connector/dsp), AgreementState and DutyState the connector's own.
package api
