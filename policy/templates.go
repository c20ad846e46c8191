package policy

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Templates for the three modes of public data: sharing between departments
// (共享), open data (开放) and authorised operation (公共数据授权运营). Each
// returns a *Policy in the profile, ready to publish as an offer; parameters
// are validated and a missing required one is an error naming it.

// SharingParams configure DepartmentSharing.
type SharingParams struct {
	ID     string // the policy's @id (required)
	Target string // the dataset; empty for a catalogue offer
	// Departments that may use the data (recipient isAnyOf). Required.
	Departments []string
	// Purposes the data may be used for (purpose isAnyOf): the performance of
	// statutory duties. Required.
	Purposes []string
	// Region the departments must be in (spatial isPartOf), e.g. "CN-BJ". Optional.
	Region string
	// MaxClassification defaults to important: core data is not shared this way.
	MaxClassification Classification
}

// DepartmentSharing (共享) lets named government departments use a dataset
// for their statutory purposes, logged per use, with onward distribution
// prohibited.
func DepartmentSharing(p SharingParams) (*Policy, error) {
	if p.ID == "" || len(p.Departments) == 0 || len(p.Purposes) == 0 {
		return nil, errors.New("policy: department sharing: ID, Departments and Purposes are required")
	}
	level := p.MaxClassification
	if level == "" {
		level = Important
	}
	if err := level.Validate(); err != nil {
		return nil, fmt.Errorf("policy: department sharing: MaxClassification: %w", err)
	}
	cs := []Constraint{
		{LeftOperand: LeftRecipient, Operator: OpIsAnyOf, RightOperand: p.Departments},
		{LeftOperand: LeftPurpose, Operator: OpIsAnyOf, RightOperand: p.Purposes},
		{LeftOperand: LeftOrgType, Operator: OpEq, RightOperand: []string{"government"}},
		{LeftOperand: LeftClassification, Operator: OpLteq, RightOperand: []string{string(level)}},
	}
	if p.Region != "" {
		cs = append(cs, Constraint{LeftOperand: LeftSpatial, Operator: OpIsPartOf, RightOperand: []string{p.Region}})
	}
	return checked(&Policy{
		ID: p.ID, Type: "Offer", Target: p.Target, Profile: []string{ProfileIRI},
		Permissions:  []Rule{{Action: "use", Constraints: cs}},
		Prohibitions: []Rule{{Action: "distribute"}},
		Obligations:  []Obligation{{Action: DutyLog}},
	})
}

// OpenDataParams configure OpenData.
type OpenDataParams struct {
	ID     string // required
	Target string
	// ExcludedPurposes may not be pursued with the data (purpose isNoneOf). Optional.
	ExcludedPurposes []string
}

// OpenData (开放) lets anyone use general-level data, logged per use. Only
// data classified general may be opened.
func OpenData(p OpenDataParams) (*Policy, error) {
	if p.ID == "" {
		return nil, errors.New("policy: open data: ID is required")
	}
	cs := []Constraint{{LeftOperand: LeftClassification, Operator: OpEq, RightOperand: []string{string(General)}}}
	if len(p.ExcludedPurposes) > 0 {
		cs = append(cs, Constraint{LeftOperand: LeftPurpose, Operator: OpIsNoneOf, RightOperand: p.ExcludedPurposes})
	}
	return checked(&Policy{
		ID: p.ID, Type: "Offer", Target: p.Target, Profile: []string{ProfileIRI},
		Permissions: []Rule{{Action: "use", Constraints: cs}},
		Obligations: []Obligation{{Action: DutyLog}},
	})
}

// OperationParams configure AuthorisedOperation.
type OperationParams struct {
	ID       string // required
	Target   string
	Operator string // the authorised operator's participant ID (recipient eq). Required.
	// Purposes the operator may develop products for. Required.
	Purposes []string
	// NotBefore and NotAfter bound the authorisation. NotAfter is required:
	// authorised operation is always for a term.
	NotBefore, NotAfter time.Time
	// MaxUses caps the uses under the agreement; 0 for no cap.
	MaxUses int
	// Region the operator must be in (spatial isPartOf). Required.
	Region string
	// Retention is how long after the agreement starts raw data must be
	// deleted; defaults to 90 days.
	Retention time.Duration
	// MaxClassification defaults to important.
	MaxClassification Classification
}

// AuthorisedOperation (公共数据授权运营) lets one authorised operator use the
// data for named purposes within a term and region, forbids onward
// distribution of the raw data, and owes per-use logging, notification of
// the provider and deletion within the retention period.
func AuthorisedOperation(p OperationParams) (*Policy, error) {
	switch {
	case p.ID == "":
		return nil, errors.New("policy: authorised operation: ID is required")
	case p.Operator == "":
		return nil, errors.New("policy: authorised operation: Operator is required")
	case len(p.Purposes) == 0:
		return nil, errors.New("policy: authorised operation: Purposes is required")
	case p.NotAfter.IsZero():
		return nil, errors.New("policy: authorised operation: NotAfter is required")
	case p.Region == "":
		return nil, errors.New("policy: authorised operation: Region is required")
	case !p.NotBefore.IsZero() && !p.NotBefore.Before(p.NotAfter):
		return nil, errors.New("policy: authorised operation: NotBefore must be before NotAfter")
	case p.MaxUses < 0:
		return nil, errors.New("policy: authorised operation: MaxUses must not be negative")
	}
	level := p.MaxClassification
	if level == "" {
		level = Important
	}
	if err := level.Validate(); err != nil {
		return nil, fmt.Errorf("policy: authorised operation: MaxClassification: %w", err)
	}
	retention := p.Retention
	if retention == 0 {
		retention = 90 * 24 * time.Hour
	}
	cs := []Constraint{
		{LeftOperand: LeftRecipient, Operator: OpEq, RightOperand: []string{p.Operator}},
		{LeftOperand: LeftPurpose, Operator: OpIsAnyOf, RightOperand: p.Purposes},
	}
	if !p.NotBefore.IsZero() {
		cs = append(cs, Constraint{LeftOperand: LeftDateTime, Operator: OpGteq, RightOperand: []string{p.NotBefore.Format(time.RFC3339)}})
	}
	cs = append(cs, Constraint{LeftOperand: LeftDateTime, Operator: OpLt, RightOperand: []string{p.NotAfter.Format(time.RFC3339)}})
	if p.MaxUses > 0 {
		cs = append(cs, Constraint{LeftOperand: LeftCount, Operator: OpLteq, RightOperand: []string{strconv.Itoa(p.MaxUses)}})
	}
	cs = append(cs,
		Constraint{LeftOperand: LeftSpatial, Operator: OpIsPartOf, RightOperand: []string{p.Region}},
		Constraint{LeftOperand: LeftClassification, Operator: OpLteq, RightOperand: []string{string(level)}},
	)
	return checked(&Policy{
		ID: p.ID, Type: "Offer", Target: p.Target, Profile: []string{ProfileIRI},
		Permissions: []Rule{{Action: "use", Constraints: cs, Duties: []Obligation{{
			Action:      DutyDelete,
			Constraints: []Constraint{{LeftOperand: LeftElapsedTime, Operator: OpLteq, RightOperand: []string{formatDuration(retention)}}},
		}}}},
		Prohibitions: []Rule{{Action: "distribute"}},
		Obligations:  []Obligation{{Action: DutyLog}, {Action: DutyNotify}},
	})
}

// checked round-trips a template through MarshalJSON and Parse so that a
// template can never produce a policy the parser would refuse.
func checked(p *Policy) (*Policy, error) {
	b, err := p.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("policy: template: %w", err)
	}
	return Parse(b)
}
