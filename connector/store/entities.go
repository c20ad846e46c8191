package store

import (
	"encoding/json"
	"fmt"
)

// Roles a node plays in a negotiation, agreement or transfer.
const (
	RoleProvider = "provider"
	RoleConsumer = "consumer"
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

// Offer is a dataset offered under a policy (the ODRL JSON as published).
type Offer struct {
	ID         string          `json:"id"`
	DatasetID  string          `json:"dataset"`
	Policy     json.RawMessage `json:"policy"`
	PolicyHash string          `json:"policyHash"`
	CreatedAt  string          `json:"createdAt"`
}

// Negotiation is one contract negotiation as this node sees it. ID is our
// process id (providerPid if we provide, consumerPid if we consume).
type Negotiation struct {
	ID           string          `json:"id"`
	Role         string          `json:"role"`
	PeerPID      string          `json:"peerPid"`
	Counterparty string          `json:"counterparty"`
	PeerURL      string          `json:"peerUrl"`
	DatasetID    string          `json:"dataset"`
	OfferID      string          `json:"offer"`
	Offer        json.RawMessage `json:"offerPolicy,omitempty"`
	State        string          `json:"state"`
	// Awaiting says what the negotiation waits for, e.g. "operator approval".
	Awaiting    string `json:"awaiting,omitempty"`
	AgreementID string `json:"agreement,omitempty"`
	Code        string `json:"code,omitempty"`
	Rule        string `json:"rule,omitempty"`
	Reason      string `json:"reason,omitempty"`
	Purpose     string `json:"purpose,omitempty"`
	LegalBasis  string `json:"legalBasis,omitempty"`
	// Profiles are the tdsc profiles the counterparty advertised in its
	// contract request, space-separated (dsp.ProfileCountersigned).
	Profiles  string       `json:"profiles,omitempty"`
	CreatedAt string       `json:"createdAt"`
	UpdatedAt string       `json:"updatedAt"`
	History   []Transition `json:"history,omitempty"`
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

// Agreement is a contract agreement, provider or consumer side.
type Agreement struct {
	ID            string          `json:"id"`
	NegotiationID string          `json:"negotiation"`
	Role          string          `json:"role"`
	Provider      string          `json:"provider"`
	Consumer      string          `json:"consumer"`
	ProviderURL   string          `json:"providerUrl"`
	DatasetID     string          `json:"dataset"`
	Policy        json.RawMessage `json:"policy"`
	PolicyHash    string          `json:"policyHash"`
	Terms         json.RawMessage `json:"terms"`
	// State is AgreementPending, AgreementActive or AgreementRevoked.
	State      string `json:"state"`
	Uses       int    `json:"uses"`
	RecordID   string `json:"recordId,omitempty"`
	Reason     string `json:"reason,omitempty"`
	SignedAt   string `json:"signedAt,omitempty"`
	Purpose    string `json:"purpose,omitempty"`
	LegalBasis string `json:"legalBasis,omitempty"`
	UpdatedAt  string `json:"updatedAt"`
	// CreatedAt is when this node first stored the agreement (lists' order).
	CreatedAt string `json:"createdAt"`
}

// Agreement states.
const (
	AgreementPending = "pending"
	AgreementActive  = "active"
	AgreementRevoked = "revoked"
)

// Transfer is one transfer process, provider or consumer side.
type Transfer struct {
	ID           string          `json:"id"`
	Role         string          `json:"role"`
	PeerPID      string          `json:"peerPid"`
	Counterparty string          `json:"counterparty"`
	PeerURL      string          `json:"peerUrl"`
	AgreementID  string          `json:"agreement"`
	DatasetID    string          `json:"dataset"`
	Format       string          `json:"format"`
	State        string          `json:"state"`
	DataAddress  json.RawMessage `json:"dataAddress,omitempty"`
	TokenID      string          `json:"tokenId,omitempty"`
	Code         string          `json:"code,omitempty"`
	Rule         string          `json:"rule,omitempty"`
	Reason       string          `json:"reason,omitempty"`
	CreatedAt    string          `json:"createdAt"`
	UpdatedAt    string          `json:"updatedAt"`
	History      []Transition    `json:"history,omitempty"`
}

// Duty is a duty owed under an agreement.
type Duty struct {
	AgreementID string `json:"agreement"`
	DutyID      string `json:"id"`
	Action      string `json:"action"`
	Due         string `json:"due,omitempty"`
	// State is DutyOwed or DutyFulfilled.
	State     string `json:"state"`
	RecordID  string `json:"recordId,omitempty"`
	UpdatedAt string `json:"updatedAt"`
	// Overdue is computed when listed: owed and past Due.
	Overdue bool `json:"overdue,omitempty"`
}

// Duty states.
const (
	DutyOwed      = "owed"
	DutyFulfilled = "fulfilled"
)

func raw(s string) json.RawMessage {
	if s == "" {
		return nil
	}
	return json.RawMessage(s)
}

func str(b json.RawMessage) string { return string(b) }

// ---- datasets

// PutDataset inserts a dataset; an existing id is ErrConflict.
func (t *Tx) PutDataset(d *Dataset) error {
	d.CreatedAt = t.s.stamp()
	rights, _ := json.Marshal(d.Rights)
	_, err := t.exec(`INSERT INTO datasets (id, title, description, classification, category, rights, content_hash, source, manual_approval, created_at)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)`, d.ID, d.Title, d.Description, d.Classification, d.Category, string(rights), d.ContentHash, d.Source, boolInt(d.ManualApproval), d.CreatedAt)
	if isUnique(err) {
		return fmt.Errorf("%w: dataset %q already registered", ErrConflict, d.ID)
	}
	return err
}

const datasetCols = `id, title, description, classification, category, rights, content_hash, source, manual_approval, created_at`

func scanDataset(sc interface{ Scan(...any) error }) (*Dataset, error) {
	var d Dataset
	var rights string
	var manual int
	if err := sc.Scan(&d.ID, &d.Title, &d.Description, &d.Classification, &d.Category, &rights, &d.ContentHash, &d.Source, &manual, &d.CreatedAt); err != nil {
		return nil, err
	}
	_ = json.Unmarshal([]byte(rights), &d.Rights)
	d.ManualApproval = manual != 0
	return &d, nil
}

// Dataset reads one dataset.
func (t *Tx) Dataset(id string) (*Dataset, error) {
	if d, ok := t.s.fixed.Load("dataset\x00" + id); ok {
		return d.(*Dataset).clone(), nil
	}
	d, err := scanDataset(t.queryRow(`SELECT `+datasetCols+` FROM datasets WHERE id = $1`, id))
	if err != nil {
		return nil, notFound("dataset", id, err)
	}
	t.remember("dataset\x00"+id, d.clone())
	return d, nil
}

func (d *Dataset) clone() *Dataset {
	c := *d
	c.Rights = append([]string(nil), d.Rights...)
	return &c
}

func (o *Offer) clone() *Offer {
	c := *o
	c.Policy = append(json.RawMessage(nil), o.Policy...)
	return &c
}

// maxFixed bounds the cache of insert-only rows.
const maxFixed = 4096

// remember caches a dataset or offer row read through a view. Those rows
// are insert-only (no statement updates or deletes them), so a committed one
// never changes; a row read inside an update might still be rolled back, so
// only views remember.
func (t *Tx) remember(key string, v any) {
	if t.tx != nil || t.s.fixedN.Load() >= maxFixed {
		return
	}
	if _, loaded := t.s.fixed.LoadOrStore(key, v); !loaded {
		t.s.fixedN.Add(1)
	}
}

// Datasets lists every dataset by id.
func (t *Tx) Datasets() ([]*Dataset, error) {
	rows, err := t.query(`SELECT ` + datasetCols + ` FROM datasets ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Dataset
	for rows.Next() {
		d, err := scanDataset(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// ---- offers

// PutOffer inserts an offer; an existing id is ErrConflict.
func (t *Tx) PutOffer(o *Offer) error {
	o.CreatedAt = t.s.stamp()
	_, err := t.exec(`INSERT INTO offers (id, dataset_id, policy, policy_hash, created_at) VALUES ($1,$2,$3,$4,$5)`,
		o.ID, o.DatasetID, str(o.Policy), o.PolicyHash, o.CreatedAt)
	if isUnique(err) {
		return fmt.Errorf("%w: offer %q already exists", ErrConflict, o.ID)
	}
	return err
}

// Offer reads one offer.
func (t *Tx) Offer(id string) (*Offer, error) {
	if o, ok := t.s.fixed.Load("offer\x00" + id); ok {
		return o.(*Offer).clone(), nil
	}
	var o Offer
	var p string
	err := t.queryRow(`SELECT id, dataset_id, policy, policy_hash, created_at FROM offers WHERE id = $1`, id).
		Scan(&o.ID, &o.DatasetID, &p, &o.PolicyHash, &o.CreatedAt)
	if err != nil {
		return nil, notFound("offer", id, err)
	}
	o.Policy = raw(p)
	t.remember("offer\x00"+id, o.clone())
	return &o, nil
}

// Offers lists offers, of one dataset if datasetID is set.
func (t *Tx) Offers(datasetID string) ([]*Offer, error) {
	q := `SELECT id, dataset_id, policy, policy_hash, created_at FROM offers`
	var args []any
	if datasetID != "" {
		q += ` WHERE dataset_id = $1`
		args = append(args, datasetID)
	}
	rows, err := t.query(q+` ORDER BY id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Offer
	for rows.Next() {
		var o Offer
		var p string
		if err := rows.Scan(&o.ID, &o.DatasetID, &p, &o.PolicyHash, &o.CreatedAt); err != nil {
			return nil, err
		}
		o.Policy = raw(p)
		out = append(out, &o)
	}
	return out, rows.Err()
}

// ---- negotiations

const negCols = `id, role, peer_pid, counterparty, peer_url, dataset_id, offer_id, offer, state, awaiting, agreement_id, code, rule, reason, purpose, legal_basis, profiles, created_at, updated_at`

// PutNegotiation inserts a new negotiation in its initial state, with the
// first history row.
func (t *Tx) PutNegotiation(n *Negotiation, actor, reason string) error {
	n.CreatedAt = t.s.stamp()
	n.UpdatedAt = n.CreatedAt
	_, err := t.exec(`INSERT INTO negotiations (`+negCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19)`,
		n.ID, n.Role, n.PeerPID, n.Counterparty, n.PeerURL, n.DatasetID, n.OfferID, str(n.Offer), n.State, n.Awaiting, n.AgreementID, n.Code, n.Rule, n.Reason, n.Purpose, n.LegalBasis, n.Profiles, n.CreatedAt, n.UpdatedAt)
	if isUnique(err) {
		return fmt.Errorf("%w: negotiation %q exists", ErrConflict, n.ID)
	}
	if err != nil {
		return err
	}
	w := negWrite{kind: negPut, id: n.ID, n: *n}
	w.n.Offer = append([]byte(nil), n.Offer...)
	t.noteNeg(w)
	return t.addTransition(n.ID, "", n.State, actor, reason)
}

// UpdateNegotiation writes n's mutable fields. If its state differs from
// the stored one, a history row records from, to, actor and reason. The write
// is conditional on the stored state being fromState, so two concurrent
// transitions cannot both win: the loser gets ErrConflict.
func (t *Tx) UpdateNegotiation(n *Negotiation, fromState, actor, reason string) error {
	n.UpdatedAt = t.s.stamp()
	res, err := t.exec(`UPDATE negotiations SET peer_pid=$1, peer_url=$2, state=$3, awaiting=$4, agreement_id=$5, code=$6, rule=$7, reason=$8, updated_at=$9, offer=$10
		WHERE id=$11 AND state=$12`, n.PeerPID, n.PeerURL, n.State, n.Awaiting, n.AgreementID, n.Code, n.Rule, n.Reason, n.UpdatedAt, str(n.Offer), n.ID, fromState)
	if err != nil {
		return err
	}
	if k, _ := res.RowsAffected(); k != 1 {
		return fmt.Errorf("%w: negotiation %q is no longer %s", ErrConflict, n.ID, fromState)
	}
	w := negWrite{kind: negUpdate, id: n.ID, n: *n}
	w.n.Offer = append([]byte(nil), n.Offer...)
	t.noteNeg(w)
	if n.State != fromState {
		return t.addTransition(n.ID, fromState, n.State, actor, reason)
	}
	return nil
}

func scanNeg(sc interface{ Scan(...any) error }) (*Negotiation, error) {
	var n Negotiation
	var offer string
	if err := sc.Scan(&n.ID, &n.Role, &n.PeerPID, &n.Counterparty, &n.PeerURL, &n.DatasetID, &n.OfferID, &offer, &n.State, &n.Awaiting, &n.AgreementID, &n.Code, &n.Rule, &n.Reason, &n.Purpose, &n.LegalBasis, &n.Profiles, &n.CreatedAt, &n.UpdatedAt); err != nil {
		return nil, err
	}
	n.Offer = raw(offer)
	return &n, nil
}

// Negotiation reads one negotiation by our process id.
func (t *Tx) Negotiation(id string) (*Negotiation, error) {
	if n := t.cachedNegotiation(id); n != nil {
		return n, nil
	}
	n, err := scanNeg(t.queryRow(`SELECT `+negCols+` FROM negotiations WHERE id = $1`, id))
	if err != nil {
		return nil, notFound("negotiation", id, err)
	}
	return n, nil
}

// NegotiationByPeer reads the negotiation of role with counterparty whose
// peer process id is peerPID (ErrNotFound if none): how a retried initial
// message finds the process it already started.
func (t *Tx) NegotiationByPeer(role, counterparty, peerPID string) (*Negotiation, error) {
	n, err := scanNeg(t.queryRow(`SELECT `+negCols+` FROM negotiations WHERE peer_pid = $1 AND counterparty = $2 AND role = $3 ORDER BY created_at LIMIT 1`,
		peerPID, counterparty, role))
	if err != nil {
		return nil, notFound("negotiation of "+counterparty+" with peer pid", peerPID, err)
	}
	return n, nil
}

// NegotiationWithHistory reads one negotiation and its transitions, both of
// one snapshot (oneSnapshot): its state is its history's last step.
func (t *Tx) NegotiationWithHistory(id string) (n *Negotiation, err error) {
	err = t.oneSnapshot(func(tx *Tx) error {
		if n, err = tx.Negotiation(id); err != nil {
			return err
		}
		n.History, err = tx.History(id)
		return err
	})
	return n, err
}

// Negotiations lists a page of negotiations, newest first, optionally of
// one state, and the cursor of the next page ("" at the end).
func (t *Tx) Negotiations(state string, p Page) ([]*Negotiation, string, error) {
	var where string
	var args []any
	if state != "" {
		where, args = `state = $1`, []any{state}
	}
	q, args := pageQuery(`SELECT `+negCols+` FROM negotiations`, where, args, p)
	rows, err := t.query(q, args...)
	if err != nil {
		return nil, "", err
	}
	defer rows.Close()
	var out []*Negotiation
	for rows.Next() {
		n, err := scanNeg(rows)
		if err != nil {
			return nil, "", err
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	out, next := nextOf(out, p, func(n *Negotiation) (string, string) { return n.CreatedAt, n.ID })
	return out, next, nil
}

func (t *Tx) addTransition(id, from, to, actor, reason string) error {
	// One statement: the next sequence number is read in the insert.
	_, err := t.exec(`INSERT INTO transitions (entity_id, seq, from_state, to_state, actor, reason, at)
		SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3, $4, $5, $6 FROM transitions WHERE entity_id = $1`,
		id, from, to, actor, reason, t.s.stamp())
	return err
}

// History lists the transitions of a negotiation or transfer, oldest first.
func (t *Tx) History(id string) ([]Transition, error) {
	rows, err := t.query(`SELECT seq, from_state, to_state, actor, reason, at FROM transitions WHERE entity_id = $1 ORDER BY seq`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Transition
	for rows.Next() {
		var tr Transition
		if err := rows.Scan(&tr.Seq, &tr.From, &tr.To, &tr.Actor, &tr.Reason, &tr.At); err != nil {
			return nil, err
		}
		out = append(out, tr)
	}
	return out, rows.Err()
}

// ---- agreements

const agrCols = `id, negotiation_id, role, provider, consumer, provider_url, dataset_id, policy, policy_hash, terms, state, uses, record_id, reason, signed_at, purpose, legal_basis, updated_at, created_at`

// PutAgreement inserts or replaces an agreement.
func (t *Tx) PutAgreement(a *Agreement) error {
	a.UpdatedAt = t.s.stamp()
	if a.CreatedAt == "" {
		a.CreatedAt = a.UpdatedAt // kept by an update: the conflict clause leaves created_at alone
	}
	_, err := t.exec(`INSERT INTO agreements (`+agrCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19)
		ON CONFLICT (id) DO UPDATE SET policy=excluded.policy, policy_hash=excluded.policy_hash, terms=excluded.terms, state=excluded.state,
		uses=excluded.uses, record_id=excluded.record_id, reason=excluded.reason, signed_at=excluded.signed_at, updated_at=excluded.updated_at`,
		a.ID, a.NegotiationID, a.Role, a.Provider, a.Consumer, a.ProviderURL, a.DatasetID, str(a.Policy), a.PolicyHash, str(a.Terms), a.State, a.Uses, a.RecordID, a.Reason, a.SignedAt, a.Purpose, a.LegalBasis, a.UpdatedAt, a.CreatedAt)
	if err != nil || t.tx == nil {
		return err
	}
	// For the agreement cache: the columns an update leaves alone are known
	// if the row is cached; else read the whole row back (the writer's page
	// cache is warm).
	w := negWrite{kind: agrOverlay, id: a.ID, a: a.clone()}
	if !t.s.agreementCached(a.ID) {
		if full, err := t.Agreement(a.ID); err == nil {
			w.kind, w.a = agrFull, full
		} else {
			w.kind = agrDrop
		}
	}
	t.negWrites = append(t.negWrites, w)
	return nil
}

func (a *Agreement) clone() *Agreement {
	c := *a
	c.Policy = raw(str(a.Policy))
	c.Terms = raw(str(a.Terms))
	return &c
}

func scanAgr(sc interface{ Scan(...any) error }) (*Agreement, error) {
	var a Agreement
	var pol, terms string
	if err := sc.Scan(&a.ID, &a.NegotiationID, &a.Role, &a.Provider, &a.Consumer, &a.ProviderURL, &a.DatasetID, &pol, &a.PolicyHash, &terms, &a.State, &a.Uses, &a.RecordID, &a.Reason, &a.SignedAt, &a.Purpose, &a.LegalBasis, &a.UpdatedAt, &a.CreatedAt); err != nil {
		return nil, err
	}
	a.Policy, a.Terms = raw(pol), raw(terms)
	return &a, nil
}

// Agreement reads one agreement.
func (t *Tx) Agreement(id string) (*Agreement, error) {
	if a := t.cachedAgreement(id); a != nil {
		return a, nil
	}
	a, err := scanAgr(t.queryRow(`SELECT `+agrCols+` FROM agreements WHERE id = $1`, id))
	if err != nil {
		return nil, notFound("agreement", id, err)
	}
	return a, nil
}

// Agreements lists a page of agreements, newest first, and the cursor of
// the next page ("" at the end).
func (t *Tx) Agreements(p Page) ([]*Agreement, string, error) {
	q, args := pageQuery(`SELECT `+agrCols+` FROM agreements`, "", nil, p)
	rows, err := t.query(q, args...)
	if err != nil {
		return nil, "", err
	}
	defer rows.Close()
	var out []*Agreement
	for rows.Next() {
		a, err := scanAgr(rows)
		if err != nil {
			return nil, "", err
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	out, next := nextOf(out, p, func(a *Agreement) (string, string) { return a.CreatedAt, a.ID })
	return out, next, nil
}

// ---- transfers

const trCols = `id, role, peer_pid, counterparty, peer_url, agreement_id, dataset_id, format, state, data_address, token_id, code, rule, reason, created_at, updated_at`

// PutTransfer inserts a new transfer with its first history row.
func (t *Tx) PutTransfer(x *Transfer, actor, reason string) error {
	x.CreatedAt = t.s.stamp()
	x.UpdatedAt = x.CreatedAt
	_, err := t.exec(`INSERT INTO transfers (`+trCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16)`,
		x.ID, x.Role, x.PeerPID, x.Counterparty, x.PeerURL, x.AgreementID, x.DatasetID, x.Format, x.State, str(x.DataAddress), x.TokenID, x.Code, x.Rule, x.Reason, x.CreatedAt, x.UpdatedAt)
	if isUnique(err) {
		return fmt.Errorf("%w: transfer %q exists", ErrConflict, x.ID)
	}
	if err != nil {
		return err
	}
	return t.addTransition(x.ID, "", x.State, actor, reason)
}

// UpdateTransfer writes x's mutable fields, conditional on the stored state
// being fromState, recording a transition if the state changed.
func (t *Tx) UpdateTransfer(x *Transfer, fromState, actor, reason string) error {
	x.UpdatedAt = t.s.stamp()
	res, err := t.exec(`UPDATE transfers SET peer_pid=$1, state=$2, data_address=$3, token_id=$4, code=$5, rule=$6, reason=$7, updated_at=$8
		WHERE id=$9 AND state=$10`, x.PeerPID, x.State, str(x.DataAddress), x.TokenID, x.Code, x.Rule, x.Reason, x.UpdatedAt, x.ID, fromState)
	if err != nil {
		return err
	}
	if k, _ := res.RowsAffected(); k != 1 {
		return fmt.Errorf("%w: transfer %q is no longer %s", ErrConflict, x.ID, fromState)
	}
	if x.State != fromState {
		return t.addTransition(x.ID, fromState, x.State, actor, reason)
	}
	return nil
}

func scanTr(sc interface{ Scan(...any) error }) (*Transfer, error) {
	var x Transfer
	var addr string
	if err := sc.Scan(&x.ID, &x.Role, &x.PeerPID, &x.Counterparty, &x.PeerURL, &x.AgreementID, &x.DatasetID, &x.Format, &x.State, &addr, &x.TokenID, &x.Code, &x.Rule, &x.Reason, &x.CreatedAt, &x.UpdatedAt); err != nil {
		return nil, err
	}
	x.DataAddress = raw(addr)
	return &x, nil
}

// Transfer reads one transfer by our process id, with its history.
func (t *Tx) Transfer(id string) (*Transfer, error) {
	x, err := scanTr(t.queryRow(`SELECT `+trCols+` FROM transfers WHERE id = $1`, id))
	if err != nil {
		return nil, notFound("transfer", id, err)
	}
	return x, nil
}

// TransferWithHistory reads one transfer and its transitions, both of one
// snapshot (oneSnapshot): its state is its history's last step.
func (t *Tx) TransferWithHistory(id string) (x *Transfer, err error) {
	err = t.oneSnapshot(func(tx *Tx) error {
		if x, err = tx.Transfer(id); err != nil {
			return err
		}
		x.History, err = tx.History(id)
		return err
	})
	return x, err
}

// TransferByPeer reads the transfer of role with counterparty whose peer
// process id is peerPID (ErrNotFound if none): how a retried initial
// message finds the process it already started.
func (t *Tx) TransferByPeer(role, counterparty, peerPID string) (*Transfer, error) {
	x, err := scanTr(t.queryRow(`SELECT `+trCols+` FROM transfers WHERE peer_pid = $1 AND counterparty = $2 AND role = $3 ORDER BY created_at LIMIT 1`,
		peerPID, counterparty, role))
	if err != nil {
		return nil, notFound("transfer of "+counterparty+" with peer pid", peerPID, err)
	}
	return x, nil
}

// Transfers lists a page of transfers, newest first, of one agreement if
// agreementID is set, and the cursor of the next page ("" at the end).
func (t *Tx) Transfers(agreementID string, p Page) ([]*Transfer, string, error) {
	var where string
	var args []any
	if agreementID != "" {
		where, args = `agreement_id = $1`, []any{agreementID}
	}
	q, args := pageQuery(`SELECT `+trCols+` FROM transfers`, where, args, p)
	rows, err := t.query(q, args...)
	if err != nil {
		return nil, "", err
	}
	defer rows.Close()
	var out []*Transfer
	for rows.Next() {
		x, err := scanTr(rows)
		if err != nil {
			return nil, "", err
		}
		out = append(out, x)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	out, next := nextOf(out, p, func(x *Transfer) (string, string) { return x.CreatedAt, x.ID })
	return out, next, nil
}

// AllTransfers lists every transfer of an agreement, page by page.
func (t *Tx) AllTransfers(agreementID string) ([]*Transfer, error) {
	var all []*Transfer
	for p := (Page{Limit: MaxPageSize}); ; {
		xs, next, err := t.Transfers(agreementID, p)
		if err != nil {
			return nil, err
		}
		all = append(all, xs...)
		if next == "" {
			return all, nil
		}
		p.After = next
	}
}

// ---- duties

// PutDuty inserts a duty owed (ignored if it exists).
func (t *Tx) PutDuty(d *Duty) error {
	d.UpdatedAt = t.s.stamp()
	if d.State == "" {
		d.State = DutyOwed
	}
	_, err := t.exec(`INSERT INTO duties (agreement_id, duty_id, action, due, state, record_id, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7)
		ON CONFLICT (agreement_id, duty_id) DO NOTHING`, d.AgreementID, d.DutyID, d.Action, d.Due, d.State, d.RecordID, d.UpdatedAt)
	return err
}

// FulfilDuty marks a duty fulfilled by the ledger record recordID.
func (t *Tx) FulfilDuty(agreementID, dutyID, recordID string) error {
	res, err := t.exec(`UPDATE duties SET state=$1, record_id=$2, updated_at=$3 WHERE agreement_id=$4 AND duty_id=$5 AND state=$6`,
		DutyFulfilled, recordID, t.s.stamp(), agreementID, dutyID, DutyOwed)
	if err != nil {
		return err
	}
	if k, _ := res.RowsAffected(); k != 1 {
		return fmt.Errorf("%w: duty %q of agreement %q is not owed (unknown or already fulfilled)", ErrNotFound, dutyID, agreementID)
	}
	return nil
}

// Duties lists duties, of one agreement if agreementID is set.
func (t *Tx) Duties(agreementID string) ([]*Duty, error) {
	q := `SELECT agreement_id, duty_id, action, due, state, record_id, updated_at FROM duties`
	var args []any
	if agreementID != "" {
		q += ` WHERE agreement_id = $1`
		args = append(args, agreementID)
	}
	rows, err := t.query(q+` ORDER BY agreement_id, duty_id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Duty
	for rows.Next() {
		var d Duty
		if err := rows.Scan(&d.AgreementID, &d.DutyID, &d.Action, &d.Due, &d.State, &d.RecordID, &d.UpdatedAt); err != nil {
			return nil, err
		}
		out = append(out, &d)
	}
	return out, rows.Err()
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// SetNegotiationPeer sets the peer's process id if it is not known yet.
func (t *Tx) SetNegotiationPeer(id, peerPID string) error {
	_, err := t.exec(`UPDATE negotiations SET peer_pid = $1 WHERE id = $2 AND peer_pid = ''`, peerPID, id)
	if err == nil {
		t.noteNeg(negWrite{kind: negPeer, id: id, peer: peerPID})
	}
	return err
}

// SetTransferPeer sets the peer's process id if it is not known yet.
func (t *Tx) SetTransferPeer(id, peerPID string) error {
	_, err := t.exec(`UPDATE transfers SET peer_pid = $1 WHERE id = $2 AND peer_pid = ''`, peerPID, id)
	return err
}

// CountByState counts the rows of table ("negotiations" or "transfers") by
// role and state.
func (t *Tx) CountByState(table string) (map[[2]string]int, error) {
	if table != "negotiations" && table != "transfers" {
		return nil, fmt.Errorf("store: count: no table %q", table)
	}
	rows, err := t.query(`SELECT role, state, COUNT(*) FROM ` + table + ` GROUP BY role, state`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[[2]string]int{}
	for rows.Next() {
		var role, state string
		var n int
		if err := rows.Scan(&role, &state, &n); err != nil {
			return nil, err
		}
		out[[2]string{role, state}] = n
	}
	return out, rows.Err()
}
