package chaincode

import (
	"bytes"
	"compress/flate"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/queryresult"

	"github.com/tdsc/tdsc/chaincode/wire"
	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/ledgertest"
	"github.com/tdsc/tdsc/ledger/rulebook"
	"github.com/tdsc/tdsc/policy"
)

// memState is world state in a map, with the shim's composite key format.
// The Fabric tier (scripts/fabric-test.sh) runs the contract on real peers;
// this runs the append and proof paths in-process.
type memState struct {
	kv     map[string][]byte
	writes int
	wrote  []string // keys written or deleted, in order
	event  []byte   // the last EventBatchesDeflate payload, inflated
	raw    []byte   // and as emitted
}

func (m *memState) SetEvent(name string, payload []byte) error {
	if name != wire.EventBatchesDeflate {
		return fmt.Errorf("event %q", name)
	}
	p, err := wire.Inflate("event "+wire.EventBatchesDeflate, payload)
	if err != nil {
		return err
	}
	m.event, m.raw = p, payload
	return nil
}

func newMemState() *memState { return &memState{kv: map[string][]byte{}} }

func (m *memState) GetState(key string) ([]byte, error) { return m.kv[key], nil }
func (m *memState) GetMultipleStates(keys ...string) ([][]byte, error) {
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i] = m.kv[k]
	}
	return out, nil
}
func (m *memState) PutState(key string, value []byte) error {
	if len(value) == 0 {
		return fmt.Errorf("empty value for %s", key)
	}
	m.kv[key] = append([]byte(nil), value...)
	m.writes++
	m.wrote = append(m.wrote, key)
	return nil
}
func (m *memState) DelState(key string) error {
	delete(m.kv, key)
	m.writes++
	m.wrote = append(m.wrote, key)
	return nil
}
func (m *memState) CreateCompositeKey(objectType string, attributes []string) (string, error) {
	return "\x00" + objectType + "\x00" + strings.Join(attributes, "\x00") + "\x00", nil
}

// GetStateByRange lists keys in [start, end) in order, as the peer does.
func (m *memState) GetStateByRange(start, end string) (shim.StateQueryIteratorInterface, error) {
	var keys []string
	for k := range m.kv {
		if k >= start && (end == "" || k < end) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	it := &memIter{}
	for _, k := range keys {
		it.kvs = append(it.kvs, &queryresult.KV{Key: k, Value: m.kv[k]})
	}
	return it, nil
}

type memIter struct{ kvs []*queryresult.KV }

func (it *memIter) HasNext() bool { return len(it.kvs) > 0 }
func (it *memIter) Next() (*queryresult.KV, error) {
	kv := it.kvs[0]
	it.kvs = it.kvs[1:]
	return kv, nil
}
func (it *memIter) Close() error { return nil }

// tx runs one Append transaction: its writes apply only if it succeeds.
func tx(t *testing.T, m *memState, g ledger.Genesis, local *LocalPolicy, bs ...*ledger.Batch) ([]wire.Accepted, error) {
	t.Helper()
	staged := &memState{kv: map[string][]byte{}}
	for k, v := range m.kv {
		staged.kv[k] = v
	}
	rs, err := appendBatches(staged, g, local, bs, sent{})
	if err == nil {
		m.kv, m.writes, m.wrote, m.event, m.raw = staged.kv, m.writes+staged.writes, staged.wrote, staged.event, staged.raw
	}
	return rs, err
}

// txSent runs one Append transaction on the transient fields a client sent.
func txSent(t *testing.T, m *memState, g ledger.Genesis, transient map[string][]byte) ([]wire.Accepted, error) {
	t.Helper()
	bs, in, err := appendArg("", transient)
	if err != nil {
		return nil, err
	}
	staged := &memState{kv: maps.Clone(m.kv)}
	rs, err := appendBatches(staged, g, nil, bs, in)
	if err == nil {
		m.kv, m.writes, m.wrote, m.event, m.raw = staged.kv, m.writes+staged.writes, staged.wrote, staged.event, staged.raw
	}
	return rs, err
}

// TestNoSharedKey runs the workload's streams, each batch in its own
// transaction, and checks that no key is written by transactions of two
// streams (no head, counter or index all batches share: independent writers
// never conflict), that the transaction's event carries each new batch whole
// in the order the rulebook checked them, and that appending a committed
// batch again writes nothing.
func TestNoSharedKey(t *testing.T) {
	s, w := ledgertest.MustWorkload(t, 300, 7, 3)
	m := newMemState()
	// The setup in one transaction: its batches keep their order.
	rs, err := tx(t, m, s.Genesis, nil, w.Setup...)
	if err != nil {
		t.Fatal(err)
	}
	var ev []wire.Written
	if err := json.Unmarshal(m.event, &ev); err != nil || len(ev) != len(w.Setup) {
		t.Fatalf("event of the setup: %d batches (%v), want %d", len(ev), err, len(w.Setup))
	}
	for i, b := range w.Setup {
		got := ev[i]
		if got.Root != b.Root || got.Signature != b.Signature || len(got.Records) != len(b.Records) || !rs[i].New || m.kv[keyBatch(b.Root)] == nil {
			t.Fatalf("setup batch %d: event has %s with %d records (accepted %+v)", i, got.Root, len(got.Records), rs[i])
		}
		canon, _, _ := b.Encode(s.Genesis.CryptoSuite())
		for k := range canon {
			if string(got.Records[k]) != string(canon[k]) {
				t.Fatalf("setup batch %d record %d: written %s, want %s", i, k, got.Records[k], canon[k])
			}
		}
	}
	writers := map[string]int{} // key -> stream that wrote it
	for i, st := range w.Streams {
		for _, b := range st {
			m.wrote = nil
			if _, err := tx(t, m, s.Genesis, nil, b); err != nil {
				t.Fatalf("stream %d: %v", i, err)
			}
			for _, k := range m.wrote {
				if o, ok := writers[k]; ok && o != i {
					t.Fatalf("key %q written by streams %d and %d: a hot key", k, o, i)
				}
				writers[k] = i
			}
		}
	}
	if len(writers) == 0 {
		t.Fatal("the streams wrote nothing")
	}
	before := m.writes
	m.event = nil
	again, err := tx(t, m, s.Genesis, nil, w.Streams[0][0])
	if err != nil {
		t.Fatal(err)
	}
	if again[0].New || again[0].Root != w.Streams[0][0].Root || m.writes != before || m.event != nil {
		t.Fatalf("second append: %+v, %d new writes", again[0], m.writes-before)
	}
	t.Logf("%d records, %.2f writes per record", w.Records, float64(m.writes)/float64(w.Records))
}

func TestRefusalNamesBatch(t *testing.T) {
	s, err := ledgertest.NewSpace()
	if err != nil {
		t.Fatal(err)
	}
	p1, _ := s.Participant("p1", "CN-BJ")
	reg, err := s.Batch(s.Authority(), p1)
	if err != nil {
		t.Fatal(err)
	}
	m := newMemState()
	if _, err := tx(t, m, s.Genesis, nil, reg); err != nil {
		t.Fatal(err)
	}
	good, _ := s.Batch("p1", s.Dataset("p1", "ds-1", policy.General, "traffic"))
	bad, _ := s.Batch("p1", s.Transfer("p1", "p2", "ag-none", "ds-1", "t-1"))
	local, _ := s.Batch("p1", s.Dataset("p1", "ds-2", policy.General, "genomes"))
	tests := []struct {
		name  string
		local *LocalPolicy
		bs    []*ledger.Batch
		index int
		rule  string
	}{
		{"rulebook", nil, []*ledger.Batch{good, bad}, 1, "agreement.exists"},
		{"local policy", &LocalPolicy{RefuseCategories: []string{"genomes"}}, []*ledger.Batch{local, good}, 0, RuleLocalPolicy},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(m.kv)
			_, err := tx(t, m, s.Genesis, tt.local, tt.bs...)
			var be *wire.BatchError
			var re *ledger.RuleError
			if !errors.As(err, &be) || be.Index != tt.index || !errors.As(err, &re) || re.Rule != tt.rule {
				t.Fatalf("got %v, want batch %d refused by %s", err, tt.index, tt.rule)
			}
			if len(m.kv) != before {
				t.Fatalf("a refused transaction wrote %d keys", len(m.kv)-before)
			}
			// The error survives the trip through a chaincode message.
			we, ok := wire.ParseMessage("chaincode response 500, " + wire.Message(err))
			if !ok || we.Batch == nil || *we.Batch != tt.index || !errors.As(we.Err(), &re) || re.Rule != tt.rule {
				t.Fatalf("wire round trip of %v: %+v", err, we)
			}
		})
	}
}

// TestKeyIndex checks the key index in world state: a registered key is
// listed under keyHolder, another participant cannot take it, and a key an
// update drops is deleted from the index and free for others, within one
// transaction in batch order.
func TestKeyIndex(t *testing.T) {
	s, err := ledgertest.NewSpace()
	if err != nil {
		t.Fatal(err)
	}
	m := newMemState()
	commit := func(bs ...*ledger.Batch) error {
		t.Helper()
		_, err := tx(t, m, s.Genesis, nil, bs...)
		return err
	}
	batch := func(recs ...ledger.Record) *ledger.Batch {
		t.Helper()
		b, err := s.Batch(s.Authority(), recs...)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	participant := func(kind ledger.Kind, id string, keys ...identity.JWK) ledger.Record {
		r := s.Record(kind, s.Authority())
		r.Participant = &identity.Participant{ID: id, Name: id, Keys: keys, Region: "CN-BJ", Status: identity.StatusActive}
		return r
	}
	holder := func(k identity.JWK) string {
		tp, err := rulebook.KeyThumbprint(k)
		if err != nil {
			t.Fatal(err)
		}
		return string(m.kv[keyHolder(tp)])
	}
	p1, _ := s.Participant("p1", "CN-BJ")
	p2, _ := s.Participant("p2", "CN-SH")
	if err := commit(batch(p1, p2)); err != nil {
		t.Fatal(err)
	}
	k1, k2 := s.Keys["p1"].JWK(), s.Keys["p2"].JWK()
	if holder(k1) != "p1" || holder(k2) != "p2" {
		t.Fatalf("after registration: k1 held by %q, k2 by %q", holder(k1), holder(k2))
	}
	refused := func(err error, index int) {
		t.Helper()
		var be *wire.BatchError
		var re *ledger.RuleError
		if !errors.As(err, &be) || be.Index != index || !errors.As(err, &re) || re.Rule != rulebook.RuleKeyUnique {
			t.Fatalf("got %v, want batch %d refused by %s", err, index, rulebook.RuleKeyUnique)
		}
	}
	before := len(m.kv)
	refused(commit(batch(participant(ledger.KindParticipantRegistered, "p3", k1))), 0)
	refused(commit(batch(participant(ledger.KindParticipantRegistered, "p3", s.Genesis.Authority.Keys[0]))), 0)
	// Taking k1 before p1 drops it, in the same transaction.
	refused(commit(batch(participant(ledger.KindParticipantRegistered, "p3", k1)), batch(participant(ledger.KindParticipantUpdated, "p1", k2))), 0)
	if len(m.kv) != before {
		t.Fatalf("refused transactions wrote %d keys", len(m.kv)-before)
	}
	k3, err := identity.GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	// p1 rotates to k3, then p3 takes k1: two batches of one transaction.
	if err := commit(batch(participant(ledger.KindParticipantUpdated, "p1", k3.JWK())), batch(participant(ledger.KindParticipantRegistered, "p3", k1))); err != nil {
		t.Fatal(err)
	}
	if holder(k1) != "p3" || holder(k3.JWK()) != "p1" {
		t.Fatalf("after rotation: k1 held by %q, k3 by %q", holder(k1), holder(k3.JWK()))
	}
	// p2 drops its key: the index entry is deleted.
	if err := commit(batch(participant(ledger.KindParticipantUpdated, "p2", k1))); err == nil {
		t.Fatal("p2 took p3's key")
	}
	k4, _ := identity.GenerateEd25519()
	if err := commit(batch(participant(ledger.KindParticipantUpdated, "p2", k4.JWK()))); err != nil {
		t.Fatal(err)
	}
	tp2, _ := rulebook.KeyThumbprint(k2)
	if v, ok := m.kv[keyHolder(tp2)]; ok || holder(k4.JWK()) != "p2" {
		t.Fatalf("after p2 dropped k2: k2 entry %q (present %v), k4 held by %q", v, ok, holder(k4.JWK()))
	}
}

// TestKeyIndexBuiltOnUpgrade: world state written before the key index (no
// pk/ entries, no marker) gets the index built by the next Append, before its
// rules run, so a key registered back then cannot be registered again.
func TestKeyIndexBuiltOnUpgrade(t *testing.T) {
	s, err := ledgertest.NewSpace()
	if err != nil {
		t.Fatal(err)
	}
	m := newMemState()
	p1, _ := s.Participant("p1", "CN-BJ")
	p2, _ := s.Participant("p2", "CN-SH")
	b, err := s.Batch(s.Authority(), p1, p2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx(t, m, s.Genesis, nil, b); err != nil {
		t.Fatal(err)
	}
	// What an older chaincode left: no key index, no marker.
	for k := range m.kv {
		if strings.HasPrefix(k, "pk/") || k == keyIndexBuilt {
			delete(m.kv, k)
		}
	}
	p9, _ := s.Participant("p9", "CN-GD")
	p9.Participant.Keys = []identity.JWK{s.Keys["p1"].JWK()}
	b9, err := s.Batch(s.Authority(), p9)
	if err != nil {
		t.Fatal(err)
	}
	_, err = tx(t, m, s.Genesis, nil, b9)
	var re *ledger.RuleError
	if !errors.As(err, &re) || re.Rule != rulebook.RuleKeyUnique || !strings.Contains(re.Reason, "p1") {
		t.Fatalf("p9 with p1's key after the upgrade: %v, want refused by %s naming p1", err, rulebook.RuleKeyUnique)
	}
	// The refused transaction wrote nothing; the next good one builds the index.
	p3, _ := s.Participant("p3", "CN-SZ")
	b3, err := s.Batch(s.Authority(), p3)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx(t, m, s.Genesis, nil, b3); err != nil {
		t.Fatal(err)
	}
	for id, k := range map[string]identity.JWK{"p1": s.Keys["p1"].JWK(), "p2": s.Keys["p2"].JWK(), "p3": s.Keys["p3"].JWK()} {
		tp, _ := rulebook.KeyThumbprint(k)
		if got := string(m.kv[keyHolder(tp)]); got != id {
			t.Errorf("key of %s held by %q after the build", id, got)
		}
	}
	if m.kv[keyIndexBuilt] == nil {
		t.Error("no marker after the build")
	}
	// Built once: with the marker present, a missing entry is not rebuilt.
	tp1, _ := rulebook.KeyThumbprint(s.Keys["p1"].JWK())
	delete(m.kv, keyHolder(tp1))
	p4, _ := s.Participant("p4", "CN-SZ")
	b4, _ := s.Batch(s.Authority(), p4)
	if _, err := tx(t, m, s.Genesis, nil, b4); err != nil {
		t.Fatal(err)
	}
	if m.kv[keyHolder(tp1)] != nil {
		t.Error("the index was built again although its marker was there")
	}
}

// TestComputeOnly runs a compute-only agreement through the contract over
// world state, in both suites: signed on core data for another region, its
// terms kept in world state across transactions, a transfer under it
// refused, runs counted to its limit.
func TestComputeOnly(t *testing.T) {
	for _, cs := range ledgertest.Suites {
		t.Run(cs.Name(), func(t *testing.T) {
			s, err := ledgertest.NewSuiteSpace(cs)
			if err != nil {
				t.Fatal(err)
			}
			m := newMemState()
			step := func(writer string, recs ...ledger.Record) error {
				t.Helper()
				b, err := s.Batch(writer, recs...)
				if err != nil {
					t.Fatal(err)
				}
				_, err = tx(t, m, s.Genesis, nil, b)
				return err
			}
			refused := func(err error, rule string) {
				t.Helper()
				var re *ledger.RuleError
				if !errors.As(err, &re) || re.Rule != rule {
					t.Fatalf("got %v, want a refusal by %s", err, rule)
				}
			}
			p1, _ := s.Participant("p1", "CN-BJ")
			p2, _ := s.Participant("p2", "CN-SH")
			if err := step(s.Authority(), p1, p2); err != nil {
				t.Fatal(err)
			}
			if err := step("p1", s.Dataset("p1", "ds-core", policy.Core, "population")); err != nil {
				t.Fatal(err)
			}
			use, _ := s.Agreement("p1", "p2", "ds-core", "ag-use", nil)
			refused(step("p1", use), policy.RuleCoreStaysInRegion)
			ag, _ := s.Agreement("p1", "p2", "ds-core", "ag-c", &ledger.Terms{ComputeOnly: true, GroupSize: 10, MaxUses: 1})
			if err := step("p1", ag); err != nil {
				t.Fatal(err)
			}
			refused(step("p1", s.Transfer("p1", "p2", "ag-c", "ds-core", "t-1")), rulebook.RuleComputeOnly)
			if err := step("p1", s.Compute("p1", "p2", "ag-c", "ds-core", "run-1", 64, "")); err != nil {
				t.Fatal(err)
			}
			refused(step("p1", s.Compute("p1", "p2", "ag-c", "ds-core", "run-2", 64, "")), rulebook.RuleMaxUses)
		})
	}
}

// TestAppendArg: Append reads the same batches from its argument, the plain
// transient field and the compressed one, and refuses a compressed field
// that does not inflate with the field named.
func TestAppendArg(t *testing.T) {
	_, w := ledgertest.MustWorkload(t, 20, 4, 1)
	arg, err := json.Marshal(w.Setup)
	if err != nil {
		t.Fatal(err)
	}
	z, err := wire.Deflate(arg)
	if err != nil {
		t.Fatal(err)
	}
	for name, tt := range map[string]struct {
		arg       string
		transient map[string][]byte
	}{
		"argument":            {string(arg), nil},
		"transient":           {"", map[string][]byte{wire.TransientBatches: arg}},
		"transient, deflated": {"", map[string][]byte{wire.TransientBatchesDeflate: z}},
	} {
		got, _, err := appendArg(tt.arg, tt.transient)
		if err != nil || len(got) != len(w.Setup) {
			t.Fatalf("%s: %d batches, %v; want %d", name, len(got), err, len(w.Setup))
		}
		for i := range got {
			if got[i].Root != w.Setup[i].Root {
				t.Fatalf("%s: batch %d is %s, want %s", name, i, got[i].Root, w.Setup[i].Root)
			}
		}
	}
	_, _, err = appendArg("", map[string][]byte{wire.TransientBatchesDeflate: arg})
	var me *ledger.MalformedError
	if !errors.As(err, &me) || me.Field != "batches" || !strings.Contains(err.Error(), wire.TransientBatchesDeflate) {
		t.Fatalf("err = %v, want a MalformedError on batches naming %s", err, wire.TransientBatchesDeflate)
	}
}

// TestEventIsSentBytes: an Append whose batches are all new, sent as
// wire.EncodeWritten writes them, emits the client's compressed bytes as its
// event (compressed here at another level than the chaincode's, so its own
// would differ); one that skips a committed batch, or was sent in another
// form, emits its own compression of what it wrote; a compressed field with
// bytes after its end is refused.
func TestEventIsSentBytes(t *testing.T) {
	s, w := ledgertest.MustWorkload(t, 40, 4, 2)
	g := s.Genesis
	payload := func(bs ...*ledger.Batch) []byte {
		ws := make([]*wire.Written, len(bs))
		for i, b := range bs {
			canon, err := b.Canonical()
			if err != nil {
				t.Fatal(err)
			}
			ws[i] = wire.NewWritten(b, canon)
		}
		p, err := wire.EncodeWritten(ws)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	best := func(p []byte) []byte {
		var buf bytes.Buffer
		zw, _ := flate.NewWriter(&buf, flate.BestCompression)
		zw.Write(p)
		zw.Close()
		return buf.Bytes()
	}
	field := func(z []byte) map[string][]byte { return map[string][]byte{wire.TransientBatchesDeflate: z} }
	m := newMemState()

	p := payload(w.Setup...)
	z := best(p)
	if own, _ := wire.Deflate(p); bytes.Equal(own, z) {
		t.Fatal("the test's compression is the chaincode's: it would not tell them apart")
	}
	if _, err := txSent(t, m, g, field(z)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.raw, z) || !bytes.Equal(m.event, p) {
		t.Fatalf("all new: the event is not the bytes sent (%d bytes, sent %d)", len(m.raw), len(z))
	}

	// One new batch and one committed: the event holds the new one only.
	next, old := w.Streams[0][0], w.Setup[len(w.Setup)-1]
	z = best(payload(next, old))
	rs, err := txSent(t, m, g, field(z))
	if err != nil || !rs[0].New || rs[1].New {
		t.Fatalf("accepted %+v, %v", rs, err)
	}
	if bytes.Equal(m.raw, z) || !bytes.Equal(m.event, payload(next)) {
		t.Fatalf("with a committed batch: event %.200s", m.event)
	}

	// Sent as a plain JSON array of batches: decoded alike, its own event.
	next = w.Streams[1][0]
	plain, err := json.Marshal([]*ledger.Batch{next})
	if err != nil {
		t.Fatal(err)
	}
	z = best(plain)
	if _, err := txSent(t, m, g, field(z)); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(m.raw, z) || !bytes.Equal(m.event, payload(next)) {
		t.Fatalf("sent as batches: event %.200s", m.event)
	}

	_, err = txSent(t, m, g, field(append(best(payload(w.Streams[0][1])), "more"...)))
	var me *ledger.MalformedError
	if !errors.As(err, &me) || me.Field != "batches" || !strings.Contains(err.Error(), "after the end") {
		t.Fatalf("trailing bytes: %v", err)
	}
}

// TestDIDIndexBuiltOnUpgrade: world state from before DIDs were indexed
// (participant.did-unique; marker keyIndexKeys, no DID entries) answers
// ParticipantByDID at once, from a build in the query's own simulation,
// and the next Append writes the DID entries and the marker before its
// rules run. A DID two old participants share stays with the first in id
// order.
func TestDIDIndexBuiltOnUpgrade(t *testing.T) {
	const alice, bob = "did:web:alice.example.com", "did:web:bob.example.com"
	s, err := ledgertest.NewSpace()
	if err != nil {
		t.Fatal(err)
	}
	m := newMemState()
	p1, _ := s.Participant("p1", "CN-BJ")
	p1.Participant.DID = alice
	p2, _ := s.Participant("p2", "CN-SH")
	p2.Participant.DID = bob
	b, err := s.Batch(s.Authority(), p1, p2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx(t, m, s.Genesis, nil, b); err != nil {
		t.Fatal(err)
	}
	if got := string(m.kv[keyIndexBuilt]); got != keyIndexDIDs {
		t.Fatalf("marker %q in a new space, want %q", got, keyIndexDIDs)
	}
	// What a chaincode from before the DID index left: keys indexed, DIDs
	// not; and p3, registered then with alice's DID as well.
	delete(m.kv, keyHolder(alice))
	delete(m.kv, keyHolder(bob))
	m.kv[keyIndexBuilt] = []byte(keyIndexKeys)
	var p3 identity.Participant
	if err := json.Unmarshal(m.kv[keyParticipant("p2")], &p3); err != nil {
		t.Fatal(err)
	}
	p3.ID, p3.DID, p3.Keys = "p3", alice, nil
	raw, _ := json.Marshal(p3)
	m.kv[keyParticipant("p3")] = raw

	// The query: answered, and nothing it built is kept.
	before := maps.Clone(m.kv)
	for did, want := range map[string]string{alice: "p1", bob: "p2"} {
		p, err := participantByDID(&memState{kv: maps.Clone(m.kv)}, s.Genesis, did)
		if err != nil || p == nil || p.ID != want {
			t.Fatalf("%s before any Append: %+v, %v; want %s", did, p, err, want)
		}
	}
	if !maps.EqualFunc(before, m.kv, bytes.Equal) {
		t.Fatal("the query changed world state")
	}

	// The next Append builds the entries, and its own rules see them.
	p9, _ := s.Participant("p9", "CN-GD")
	p9.Participant.DID = bob
	b9, err := s.Batch(s.Authority(), p9)
	if err != nil {
		t.Fatal(err)
	}
	_, err = tx(t, m, s.Genesis, nil, b9)
	var re *ledger.RuleError
	if !errors.As(err, &re) || re.Rule != rulebook.RuleDIDUnique || !strings.Contains(re.Reason, "p2") {
		t.Fatalf("p9 with p2's DID after the upgrade: %v, want refused by %s naming p2", err, rulebook.RuleDIDUnique)
	}
	p4, _ := s.Participant("p4", "CN-SZ")
	b4, err := s.Batch(s.Authority(), p4)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx(t, m, s.Genesis, nil, b4); err != nil {
		t.Fatal(err)
	}
	if got := string(m.kv[keyIndexBuilt]); got != keyIndexDIDs {
		t.Fatalf("marker %q after the build, want %q", got, keyIndexDIDs)
	}
	for did, want := range map[string]string{alice: "p1", bob: "p2"} {
		if got := string(m.kv[keyHolder(did)]); got != want {
			t.Errorf("%s held by %q after the build, want %s", did, got, want)
		}
	}
	tp1, _ := rulebook.KeyThumbprint(s.Keys["p1"].JWK())
	if got := string(m.kv[keyHolder(tp1)]); got != "p1" {
		t.Errorf("p1's key held by %q: the keys' index was left as it was", got)
	}
}

// FuzzAppendArg: any Append argument (sent plain as the transient field a
// client may use) is refused with a typed error or decoded to batches that
// validate; and it is split into batches exactly as encoding/json splits it
// (appendArg decodes with internal/jsondec): the same inputs accepted, the
// same bytes for each batch.
func FuzzAppendArg(f *testing.F) {
	_, w := ledgertest.MustWorkload(f, 12, 3, 2)
	arg, err := json.Marshal(w.Setup[:2])
	if err != nil {
		f.Fatal(err)
	}
	f.Add(arg)
	f.Add([]byte(`[{"space":"s"} , {"SPACE":"t","space":"u"}]`))
	f.Add([]byte("[\"\xff\", 1e400, null, {}]"))
	f.Add([]byte(`[] `))
	f.Add([]byte(`[{}] [{}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		bs, _, err := appendArg("", map[string][]byte{wire.TransientBatches: data})
		var std []json.RawMessage
		stdErr := json.Unmarshal(data, &std)
		split := stdErr == nil && len(std) > 0
		var me *ledger.MalformedError
		if err != nil {
			if !errors.Is(err, ledger.ErrMalformed) && !errors.Is(err, ledger.ErrRefused) {
				t.Fatalf("untyped error: %v", err)
			}
			if errors.As(err, &me) && me.Field == "batches" {
				if split {
					t.Fatalf("refused as not an array of batches, which encoding/json splits into %d", len(std))
				}
				return
			}
		}
		if !split {
			t.Fatalf("split into batches (%v), which encoding/json refuses (%v)", err, stdErr)
		}
		for i, raw := range std {
			b, derr := ledger.DecodeBatch(raw)
			if i < len(bs) && (derr != nil || b.Root != bs[i].Root || !cmp.Equal(b.Records, bs[i].Records)) {
				t.Fatalf("batch %d decoded differently from encoding/json's split (%v)", i, derr)
			}
			if err == nil && derr != nil {
				t.Fatalf("batch %d: accepted, but encoding/json's split of it is refused: %v", i, derr)
			}
			if err != nil && derr != nil {
				if !strings.HasPrefix(err.Error(), fmt.Sprintf("batch %d: ", i)) {
					t.Fatalf("refused as %v; encoding/json's split refuses batch %d first (%v)", err, i, derr)
				}
				return
			}
		}
		if err != nil {
			t.Fatalf("refused (%v); every batch of encoding/json's split decodes", err)
		}
		if len(bs) != len(std) {
			t.Fatalf("%d batches, encoding/json splits %d", len(bs), len(std))
		}
	})
}
