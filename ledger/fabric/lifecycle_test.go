package fabric

import (
	"context"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"google.golang.org/protobuf/proto"

	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/ledgertest"
	"github.com/tdsc/tdsc/policy"
)

// TestRedefinedPolicy: the audit evaluates a chaincode's endorsements under
// the policy its definition in _lifecycle gives, as of each block. The
// chaincode is redefined from AND of both organisations' peers to OR: a
// transaction Org1's peer alone endorsed commits valid and the audit takes
// it (under the policy of the first definition it would be refused); then
// it is redefined to AND again, and a transaction Org1 alone endorsed is
// marked invalid by the peers (the ledger, its profile now short of the
// policy, reports that as unavailable), and left out by the audit.
func TestRedefinedPolicy(t *testing.T) {
	p := network(t)
	if len(p.Orgs) < 2 {
		t.Skip("needs two organisations")
	}
	ctx := context.Background()
	s, err := ledgertest.NewSpace()
	if err != nil {
		t.Fatal(err)
	}
	both := open(t, p, s.Genesis, nil)
	name := both.cfg.Chaincode
	p1, _ := s.Participant("p1", "CN-BJ")
	batches := []*ledger.Batch{mustBatch(t, s, s.Authority(), p1)}
	if _, err := both.Append(ctx, batches[0]); err != nil {
		t.Fatal(err)
	}

	org1, org2 := p.Orgs[0].MSPID, p.Orgs[1].MSPID
	redefine := func(policy string, seq int) {
		t.Helper()
		if err := p.Script(ctx, "deploy", name, policy, strconv.Itoa(seq)); err != nil {
			t.Fatal(err)
		}
	}
	redefine("OR('"+org1+".peer','"+org2+".peer')", 2)
	alone := *p
	alone.Endorsers, alone.EndorsersNeeded = []string{org1}, 0
	l, err := Open(ctx, Config{Profile: &alone, Chaincode: name})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(context.Background()) })
	// Another, listing both and asking one: the policy needs no more.
	oneOfTwo := *p
	oneOfTwo.Endorsers, oneOfTwo.EndorsersNeeded = []string{org1, org2}, 1
	some, err := Open(ctx, Config{Profile: &oneOfTwo, Chaincode: name})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { some.Close(context.Background()) })
	late, err := Open(ctx, Config{Profile: &oneOfTwo, Chaincode: name})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { late.Close(context.Background()) })
	for _, x := range []*Ledger{some, late} {
		if err := x.CheckEndorsers(ctx); err != nil || x.Stats().EndorsersAsked != 1 {
			t.Fatalf("CheckEndorsers of one of two under OR: %v, %d asked; want one", err, x.Stats().EndorsersAsked)
		}
	}
	b := mustBatch(t, s, "p1", s.Dataset("p1", "ds-1", policy.General, "traffic"))
	r, err := l.Submit(ctx, b)
	if err != nil {
		t.Fatalf("append endorsed by %s alone under OR: %v", org1, err)
	}
	batches = append(batches, b)

	ch := mustChannel(t, p, 1)
	w := committedTx(t, ch, name, r)
	if len(w.endorsements) != 1 {
		t.Fatalf("transaction %s in block %d: %d endorsements, want one", r.TxID, r.Block, len(w.endorsements))
	}
	var id msp.SerializedIdentity
	if err := proto.Unmarshal(w.endorsements[0].Endorser, &id); err != nil || id.Mspid != org1 {
		t.Fatalf("the one endorsement is by %q (%v), want %s", id.Mspid, err, org1)
	}
	first := genesisOf(t, ch)
	first.policy = andOf(msp.MSPRole_PEER, org1, org2) // the first definition's
	if err := first.check(w.prp, w.endorsements); err == nil || !strings.Contains(err.Error(), "no valid endorsement by ["+org2+"]") {
		t.Fatalf("Org1's endorsement alone under the first definition: got %v, want it refused", err)
	}

	// AND again: Org1 alone no longer makes a valid transaction. The peers
	// mark it invalid at commit (ENDORSEMENT_POLICY_FAILURE); the ledger,
	// checking its profile against the policy now, finds the profile short
	// and says so as unavailable, not as a refusal of the batch.
	redefine("AND('"+org1+".peer','"+org2+".peer')", 3)
	_, err = l.Append(ctx, mustBatch(t, s, "p1", s.Dataset("p1", "ds-2", policy.General, "traffic")))
	var se *StageError
	if !errors.As(err, &se) || se.Stage != StageCommit || !errors.Is(err, ErrEndorsersShort) || !errors.Is(err, ledger.ErrUnavailable) || errors.Is(err, ledger.ErrRefused) ||
		!strings.Contains(err.Error(), "field endorsers: the peers of "+org1+", every endorser listed, do not satisfy chaincode "+name+"'s endorsement policy AND(") {
		t.Fatalf("append endorsed by %s alone under AND: got %v, want unavailable at commit, the profile's field endorsers short of AND", org1, err)
	}
	// Reads go on; /readyz/writes says why writes wait.
	if err := l.WritesReady(ctx); !errors.Is(err, ErrWritesWait) || !errors.Is(err, ErrEndorsersShort) {
		t.Fatalf("WritesReady of the ledger listing %s alone under AND: got %v, want ErrWritesWait, ErrEndorsersShort", org1, err)
	}
	// The ledger listing both but asking one follows the new definition
	// (its follower reads it; or the peers refuse a transaction endorsed by
	// one and it checks again): it asks both, and its batch is written.
	b = mustBatch(t, s, "p1", s.Dataset("p1", "ds-3", policy.General, "traffic"))
	r, err = some.Submit(ctx, b)
	if err != nil {
		t.Fatalf("append by the ledger asking one of two, after AND: %v", err)
	}
	batches = append(batches, b)
	if w := committedTx(t, ch, name, r); len(w.endorsements) != 2 || some.Stats().EndorsersAsked != 2 {
		t.Fatalf("after AND: endorsed by %d, %d asked; want both", len(w.endorsements), some.Stats().EndorsersAsked)
	}
	t.Logf("after AND, the ledger asking one of two: %+v", some.Stats())
	// One that has not followed the definition yet (as if its follower
	// were a block behind: the definitions it read taken as checked)
	// sends a transaction endorsed by one; the peers refuse it at commit,
	// it checks again and resubmits endorsed by both.
	if err := late.waitBlock(ctx, r.Block); err != nil {
		t.Fatal(err)
	}
	late.policyAt.Store(late.definitions.Load())
	b = mustBatch(t, s, "p1", s.Dataset("p1", "ds-4", policy.General, "traffic"))
	r, err = late.Submit(ctx, b)
	if err != nil {
		t.Fatalf("append by a ledger a definition behind, after AND: %v", err)
	}
	batches = append(batches, b)
	if w := committedTx(t, ch, name, r); len(w.endorsements) != 2 || late.Stats().EndorsersAsked != 2 || late.Stats().Retries != 1 {
		t.Fatalf("a definition behind, after AND: endorsed by %d, stats %+v; want both, after one retry", len(w.endorsements), late.Stats())
	}
	// OR once more: the ledger asks the profile's one again.
	redefine("OR('"+org1+".peer','"+org2+".peer')", 4)
	b = mustBatch(t, s, "p1", s.Dataset("p1", "ds-5", policy.General, "traffic"))
	if r, err = some.Submit(ctx, b); err != nil {
		t.Fatalf("append by the ledger asking one of two, OR again: %v", err)
	}
	batches = append(batches, b)
	if w := committedTx(t, ch, name, r); len(w.endorsements) != 1 || some.Stats().EndorsersAsked != 1 {
		t.Fatalf("OR again: endorsed by %d, %d asked; want one", len(w.endorsements), some.Stats().EndorsersAsked)
	}
	// The ledger listing Org1 alone, which has written nothing since it was
	// short: ready to write again once its follower has read the definition.
	if err := l.waitBlock(ctx, r.Block); err != nil {
		t.Fatal(err)
	}
	if err := l.WritesReady(ctx); err != nil {
		t.Fatalf("WritesReady of the ledger listing %s alone, OR again: %v", org1, err)
	}

	h, err := both.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var records uint64
	for _, b := range batches {
		records += uint64(len(b.Records))
	}
	rep, err := VerifyChain(ctx, ch, name, nil)
	if err != nil {
		t.Fatalf("audit: %v", err)
	}
	if rep.Records != records || rep.Root != hex.EncodeToString(h.Root) || rep.InvalidTxs == 0 {
		t.Fatalf("audit: %d records, root %s, %d invalid transactions; the ledger: %d records, root %x", rep.Records, rep.Root, rep.InvalidTxs, records, h.Root)
	}
	if want := "OR('" + org1 + ".peer', '" + org2 + ".peer')"; rep.Definitions != 4 || rep.Policy != want {
		t.Fatalf("audit: %d definitions, the last %s; want 4, the last %s", rep.Definitions, rep.Policy, want)
	}
}
