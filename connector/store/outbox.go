package store

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Outbox record states.
const (
	OutboxPending   = "pending"
	OutboxBatched   = "batched"
	OutboxCommitted = "committed"
	OutboxRefused   = "refused"
)

// OutboxRecord is a ledger record waiting for (or done with) the ledger.
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

// Batch is a signed batch persisted before it is sent, so a retry after an
// unknown outcome re-sends exactly the same bytes (the ledger answers a
// repeated batch with the same receipt).
type Batch struct {
	Root     string          `json:"root"`
	Body     json.RawMessage `json:"body"`
	State    string          `json:"state"`
	Attempts int             `json:"attempts"`
	Error    string          `json:"error,omitempty"`
}

// Enqueue adds a record to the outbox; a record id already there is a no-op
// (records are idempotent by id), reported by added=false.
func (t *Tx) Enqueue(recordID string, record []byte) (added bool, err error) {
	now := t.s.stamp()
	res, err := t.exec(`INSERT INTO outbox (`+outboxCols+`)
		VALUES ($1, $2, $3, $4, '', 0, '', $5, $5) ON CONFLICT (record_id) DO NOTHING`,
		recordID, t.s.outboxSeq.Add(1), string(record), OutboxPending, now)
	if err != nil {
		return false, fmt.Errorf("store: enqueue record %s: %w", recordID, err)
	}
	k, _ := res.RowsAffected()
	return k == 1, nil
}

// OutboxState returns a record's outbox state and error.
func (t *Tx) OutboxState(recordID string) (state, errText string, err error) {
	err = t.queryRow(`SELECT state, error FROM outbox WHERE record_id = $1`, recordID).Scan(&state, &errText)
	if err != nil {
		return "", "", notFound("outbox record", recordID, err)
	}
	return state, errText, nil
}

// Pending returns up to limit pending records in order. If the oldest is
// solo (it failed in a group before), only it is returned.
func (t *Tx) Pending(limit int) ([]*OutboxRecord, error) {
	rows, err := t.query(fmt.Sprintf(`SELECT `+outboxCols+` FROM outbox WHERE state = $1 ORDER BY seq LIMIT %d`, clampLimit(limit)), OutboxPending)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*OutboxRecord
	for rows.Next() {
		r, err := scanOutbox(rows)
		if err != nil {
			return nil, err
		}
		if r.Solo {
			if len(out) == 0 {
				out = append(out, r)
			}
			break
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// outboxCols are the outbox's columns, in the order scanOutbox reads them.
const outboxCols = `record_id, seq, record, state, batch_root, solo, error, created_at, updated_at`

func scanOutbox(sc interface{ Scan(...any) error }) (*OutboxRecord, error) {
	var r OutboxRecord
	var rec string
	var solo int
	if err := sc.Scan(&r.RecordID, &r.Seq, &rec, &r.State, &r.BatchRoot, &solo, &r.Error, &r.CreatedAt, &r.UpdatedAt); err != nil {
		return nil, err
	}
	r.Record, r.Solo = raw(rec), solo != 0
	return &r, nil
}

// OutboxPage lists one page of the outbox's records in state ("" for every
// state), oldest first by sequence number. Its cursor names the page's last
// row by sequence number and record id (ParseOutboxPage checks one).
func (t *Tx) OutboxPage(state string, p Page) ([]*OutboxRecord, string, error) {
	var where []string
	var args []any
	if state != "" {
		where, args = append(where, "state = $1"), append(args, state)
	}
	if p.After != "" {
		seq, id, err := outboxCursor(p.After)
		if err != nil {
			return nil, "", err
		}
		where = append(where, fmt.Sprintf("(seq > $%d OR (seq = $%d AND record_id > $%d))", len(args)+1, len(args)+1, len(args)+2))
		args = append(args, seq, id)
	}
	q := `SELECT ` + outboxCols + ` FROM outbox`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	rows, err := t.query(q+fmt.Sprintf(" ORDER BY seq, record_id LIMIT %d", p.size()+1), args...)
	if err != nil {
		return nil, "", err
	}
	defer rows.Close()
	var out []*OutboxRecord
	for rows.Next() {
		r, err := scanOutbox(rows)
		if err != nil {
			return nil, "", err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	out, next := nextOf(out, p, func(r *OutboxRecord) (string, string) { return strconv.FormatInt(r.Seq, 10), r.RecordID })
	return out, next, nil
}

// ParseOutboxPage is ParsePage for the outbox's list, whose cursors name a
// sequence number.
func ParseOutboxPage(limit, after string) (Page, error) {
	p, err := ParsePage(limit, after)
	if err != nil {
		return Page{}, err
	}
	if after != "" {
		if _, _, err := outboxCursor(after); err != nil {
			return Page{}, err
		}
	}
	return p, nil
}

func outboxCursor(after string) (seq int64, id string, err error) {
	s, id, err := decodeCursor(after)
	if err == nil {
		if seq, err = strconv.ParseInt(s, 10, 64); err == nil && seq >= 0 {
			return seq, id, nil
		}
	}
	return 0, "", fmt.Errorf("after: %.40q is not a cursor this node answered with the outbox's list", after)
}

// OutboxCounts counts records by state.
func (t *Tx) OutboxCounts() (map[string]int, error) {
	rows, err := t.query(`SELECT state, COUNT(*) FROM outbox GROUP BY state`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			return nil, err
		}
		out[s] = n
	}
	return out, rows.Err()
}

// PutBatch persists a signed batch and marks its records batched.
func (t *Tx) PutBatch(root string, body []byte, recordIDs []string) error {
	if _, err := t.exec(`INSERT INTO batches (root, body, state, attempts, error, created_at) VALUES ($1,$2,$3,0,'',$4)`,
		root, string(body), OutboxPending, t.s.stamp()); err != nil {
		return fmt.Errorf("store: put batch %s: %w", root, err)
	}
	return t.setRecords(recordIDs, OutboxBatched, root, "")
}

func (t *Tx) setRecords(ids []string, state, root, errText string) error {
	now := t.s.stamp()
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), 200)]
		ids = ids[len(chunk):]
		args := []any{state, root, errText, now}
		ph := make([]string, len(chunk))
		for i, id := range chunk {
			args = append(args, id)
			ph[i] = fmt.Sprintf("$%d", i+5)
		}
		if _, err := t.exec(`UPDATE outbox SET state=$1, batch_root=$2, error=$3, updated_at=$4 WHERE record_id IN (`+strings.Join(ph, ",")+`)`, args...); err != nil {
			return err
		}
	}
	return nil
}

// OpenBatch returns the oldest batch not yet settled, or nil.
func (t *Tx) OpenBatch() (*Batch, error) {
	var b Batch
	var body string
	err := t.queryRow(`SELECT root, body, state, attempts, error FROM batches WHERE state = $1 ORDER BY created_at, root LIMIT 1`, OutboxPending).
		Scan(&b.Root, &body, &b.State, &b.Attempts, &b.Error)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	b.Body = raw(body)
	return &b, nil
}

// BatchRecordIDs lists the records of a batch in order.
func (t *Tx) BatchRecordIDs(root string) ([]string, error) {
	rows, err := t.query(`SELECT record_id FROM outbox WHERE batch_root = $1 ORDER BY seq`, root)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// BatchAttempt records a failed attempt to send a batch (outcome unknown).
func (t *Tx) BatchAttempt(root, errText string) error {
	_, err := t.exec(`UPDATE batches SET attempts = attempts + 1, error = $1 WHERE root = $2`, errText, root)
	return err
}

// CommitBatch marks a batch and its records committed.
func (t *Tx) CommitBatch(root string) error {
	ids, err := t.BatchRecordIDs(root)
	if err != nil {
		return err
	}
	if _, err := t.exec(`UPDATE batches SET state = $1, error = '' WHERE root = $2`, OutboxCommitted, root); err != nil {
		return err
	}
	return t.setRecords(ids, OutboxCommitted, root, "")
}

// RefuseBatch settles a batch the ledger refused. A batch of one record
// refuses that record for good, keeping errText (the refusal's message) and
// cause (its structured wire form, JSON, read back by RefusalCause); a larger
// batch returns its records to the outbox as solo records, so each is tried
// alone and only the bad one is refused.
func (t *Tx) RefuseBatch(root, errText string, cause []byte) (refused []string, err error) {
	ids, err := t.BatchRecordIDs(root)
	if err != nil {
		return nil, err
	}
	if _, err := t.exec(`UPDATE batches SET state = $1, error = $2 WHERE root = $3`, OutboxRefused, errText, root); err != nil {
		return nil, err
	}
	if len(ids) == 1 {
		if err := t.setRecords(ids, OutboxRefused, root, errText); err != nil {
			return nil, err
		}
		_, err := t.exec(`UPDATE outbox SET cause = $1 WHERE record_id = $2`, string(cause), ids[0])
		return ids, err
	}
	now := t.s.stamp()
	for _, id := range ids {
		if _, err := t.exec(`UPDATE outbox SET state=$1, batch_root='', solo=1, error=$2, updated_at=$3 WHERE record_id=$4`,
			OutboxPending, "batch refused, retrying alone: "+errText, now, id); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// RefusalCause returns the structured cause RefuseBatch kept for a refused
// record: empty for a record refused before causes were kept.
func (t *Tx) RefusalCause(recordID string) ([]byte, error) {
	var cause string
	if err := t.queryRow(`SELECT cause FROM outbox WHERE record_id = $1`, recordID).Scan(&cause); err != nil {
		return nil, notFound("outbox record", recordID, err)
	}
	return []byte(cause), nil
}

// ---- tasks: pending outgoing steps, re-driven after a restart

// Task is a pending step: kind names the handler, ref the negotiation or transfer.
type Task struct {
	Kind      string `json:"kind"`
	Ref       string `json:"ref"`
	Attempts  int    `json:"attempts"`
	LastError string `json:"lastError,omitempty"`
}

// AddTask records a pending step (a no-op if the same step is pending).
func (t *Tx) AddTask(kind, ref string) error {
	_, err := t.exec(`INSERT INTO tasks (kind, ref, attempts, last_error, created_at) VALUES ($1,$2,0,'',$3) ON CONFLICT (kind, ref) DO NOTHING`,
		kind, ref, t.s.stamp())
	return err
}

// DoneTask removes a finished step.
func (t *Tx) DoneTask(kind, ref string) error {
	_, err := t.exec(`DELETE FROM tasks WHERE kind = $1 AND ref = $2`, kind, ref)
	return err
}

// DoneTasks removes finished steps, many per statement.
func (t *Tx) DoneTasks(keys []Task) error {
	for len(keys) > 0 {
		chunk := keys[:min(len(keys), 64)]
		keys = keys[len(chunk):]
		// Pad to a power of two (repeating the last key) so a few statement
		// texts cover every count and stay prepared.
		size := 1
		for size < len(chunk) {
			size *= 2
		}
		args := make([]any, 0, 2*size)
		ph := make([]string, size)
		for i := range size {
			k := chunk[min(i, len(chunk)-1)]
			args = append(args, k.Kind, k.Ref)
			ph[i] = fmt.Sprintf("($%d, $%d)", 2*i+1, 2*i+2)
		}
		if _, err := t.exec(`DELETE FROM tasks WHERE (kind, ref) IN (VALUES `+strings.Join(ph, ",")+`)`, args...); err != nil {
			return fmt.Errorf("store: delete %d finished tasks: %w", len(chunk), err)
		}
	}
	return nil
}

// FailTask records a failed attempt of a step and returns the attempt count.
func (t *Tx) FailTask(kind, ref, errText string) (int, error) {
	if len(errText) > 2000 {
		errText = errText[:2000]
	}
	if _, err := t.exec(`UPDATE tasks SET attempts = attempts + 1, last_error = $1 WHERE kind = $2 AND ref = $3`, errText, kind, ref); err != nil {
		return 0, err
	}
	var n int
	err := t.queryRow(`SELECT attempts FROM tasks WHERE kind = $1 AND ref = $2`, kind, ref).Scan(&n)
	return n, err
}

// Tasks lists every pending step, oldest first.
func (t *Tx) Tasks() ([]Task, error) {
	rows, err := t.query(`SELECT kind, ref, attempts, last_error FROM tasks ORDER BY created_at, kind, ref`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Task
	for rows.Next() {
		var k Task
		if err := rows.Scan(&k.Kind, &k.Ref, &k.Attempts, &k.LastError); err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}
