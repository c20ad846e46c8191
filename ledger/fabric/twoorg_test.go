package fabric

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/hyperledger/fabric-gateway/pkg/client"
	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/gateway"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"

	"github.com/tdsc/tdsc/chaincode"
	"github.com/tdsc/tdsc/chaincode/wire"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/ledgertest"
	"github.com/tdsc/tdsc/policy"
)

// twoOrgs returns a profile with at least two organisations, or skips.
func twoOrgs(t *testing.T) *Profile {
	t.Helper()
	p := network(t)
	if len(p.Orgs) < 2 {
		t.Skip("needs a network with two organisations (TDSC_FABRIC_ORGS=2)")
	}
	return p
}

// registered is a space with p1 and p2 registered, on a fresh chaincode.
func registered(t *testing.T, p *Profile) (*ledgertest.Space, *Ledger) {
	t.Helper()
	s, err := ledgertest.NewSpace()
	if err != nil {
		t.Fatal(err)
	}
	l := open(t, p, s.Genesis, nil)
	p1, err := s.Participant("p1", "CN-BJ")
	if err != nil {
		t.Fatal(err)
	}
	p2, err := s.Participant("p2", "CN-SH")
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Batch(s.Authority(), p1, p2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	return s, l
}

// TestOneEndorserRefuses: the endorsement policy needs both organisations;
// Org2's endorser refuses a category the space's rules allow, so the batch
// is refused at endorsement with Org2's rule, and nothing of it commits.
func TestOneEndorserRefuses(t *testing.T) {
	p := needing(twoOrgs(t), 0) // every endorser asked, also under a policy that needs fewer
	ctx := context.Background()
	s, l := registered(t, p)
	org2Refuses(t, p)

	refused := s.Dataset("p1", "ds-x", policy.General, "org2-refuses")
	b, err := s.Batch("p1", refused)
	if err != nil {
		t.Fatal(err)
	}
	_, err = l.Append(ctx, b)
	var re *ledger.RuleError
	var se *StageError
	if !errors.Is(err, ledger.ErrRefused) || !errors.As(err, &re) || re.Rule != chaincode.RuleLocalPolicy || re.RecordID != refused.ID {
		t.Fatalf("got %v, want refusal by rule %s naming record %s", err, chaincode.RuleLocalPolicy, refused.ID)
	}
	if !errors.As(err, &se) || se.Stage != StageEndorse {
		t.Fatalf("got %v, want a refusal at the endorse stage", err)
	}
	if _, err := l.Record(ctx, refused.ID); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("record of the refused batch: got %v, want ErrNotFound", err)
	}
	// Org1 alone would have accepted it; a batch both accept commits.
	if _, err := l.Append(ctx, mustBatch(t, s, "p1", s.Dataset("p1", "ds-y", policy.General, "traffic"))); err != nil {
		t.Fatalf("a batch both endorsers accept: %v", err)
	}
}

// TestOutvoted: under a policy that needs some of the organisations
// (OutOf(2, ...) of three: TDSC_FABRIC_ORGS=3 TDSC_FABRIC_POLICY=majority),
// the organisations asked decide: a batch Org2's local policy refuses
// commits when enough others endorse it without Org2.
func TestOutvoted(t *testing.T) {
	p := twoOrgs(t)
	if p.EndorsersAsked() == len(p.Endorsers) {
		t.Skip("the network's policy needs every organisation (TDSC_FABRIC_ORGS=3 TDSC_FABRIC_POLICY=majority)")
	}
	ctx := context.Background()
	org2 := p.Orgs[1].MSPID
	without := *p
	without.Endorsers = slices.DeleteFunc(slices.Clone(p.Endorsers), func(e string) bool { return e == org2 })
	if len(without.Endorsers) < p.EndorsersNeeded {
		t.Skipf("without %s, %d endorsers are fewer than the %d the policy needs", org2, len(without.Endorsers), p.EndorsersNeeded)
	}
	org2Refuses(t, p)

	s, l := registered(t, &without)
	refused := s.Dataset("p1", "ds-x", policy.General, "org2-refuses")
	if _, err := l.Append(ctx, mustBatch(t, s, "p1", refused)); err != nil {
		t.Fatalf("endorsed by %v without %s: %v", without.Endorsers, org2, err)
	}
	if _, err := l.Record(ctx, refused.ID); err != nil {
		t.Fatalf("record of the outvoted batch: %v", err)
	}
}

// TestEndorsersInTurn: every transaction is endorsed by as many
// organisations as the profile asks (all of them, or endorsersNeeded
// under a majority policy), its gateway's own among them, and over a few
// transactions every endorser takes its turn.
func TestEndorsersInTurn(t *testing.T) {
	p := twoOrgs(t)
	if len(p.Endorsers) == 0 {
		t.Skip("the profile lists no endorsers")
	}
	ctx := context.Background()
	s, l := registered(t, p)
	ch := mustChannel(t, p, 0)
	seen := map[string]int{}
	for i := range 2 * len(p.Endorsers) {
		r, err := l.Submit(ctx, mustBatch(t, s, "p1", s.Dataset("p1", fmt.Sprintf("ds-%d", i), policy.General, "traffic")))
		if err != nil {
			t.Fatal(err)
		}
		orgs := endorsedBy(t, ch, l.cfg.Chaincode, r)
		for _, o := range orgs {
			seen[o]++
		}
		if len(orgs) != p.EndorsersAsked() || !slices.Contains(orgs, p.Orgs[0].MSPID) {
			t.Fatalf("transaction %s endorsed by %v: want %d organisations, %s among them", r.TxID, orgs, p.EndorsersAsked(), p.Orgs[0].MSPID)
		}
	}
	for _, e := range p.Endorsers {
		if seen[e] == 0 {
			t.Errorf("%s endorsed none of the transactions (endorsements: %v)", e, seen)
		}
	}
	t.Logf("%d of %d endorsers a transaction; endorsements %v", p.EndorsersAsked(), len(p.Endorsers), seen)
}

// org2Refuses gives Org2's endorser a local policy refusing the category
// "org2-refuses" for the test, or skips if the profile names no file of it.
func org2Refuses(t *testing.T, p *Profile) {
	t.Helper()
	local := p.Orgs[1].LocalPolicy
	if local == "" {
		t.Skip("profile names no local policy file for Org2")
	}
	if err := os.WriteFile(local, []byte(`{"refuseCategories":["org2-refuses"]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(local) })
}

// endorsedBy returns the MSP IDs of the endorsements of r's transaction,
// read from its block on ch.
func endorsedBy(t *testing.T, ch *Channel, chaincode string, r Receipt) []string {
	t.Helper()
	var orgs []string
	for _, e := range committedTx(t, ch, chaincode, r).endorsements {
		var id msp.SerializedIdentity
		if err := proto.Unmarshal(e.Endorser, &id); err != nil {
			t.Fatal(err)
		}
		orgs = append(orgs, id.Mspid)
	}
	return orgs
}

func mustBatch(t *testing.T, s *ledgertest.Space, writer string, recs ...ledger.Record) *ledger.Batch {
	t.Helper()
	b, err := s.Batch(writer, recs...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAlteredAfterEndorsement: a client that changes a record in the
// endorsed write set (and signs the envelope itself) gets its transaction
// refused at commit: the peers' endorsements no longer match it.
func TestAlteredAfterEndorsement(t *testing.T) {
	p := twoOrgs(t)
	ctx := context.Background()
	s, l := registered(t, p)
	rec := s.Dataset("p1", "ds-1", policy.General, "traffic")
	b := mustBatch(t, s, "p1", rec)
	raw, err := jsonArray(b)
	if err != nil {
		t.Fatal(err)
	}
	proposal, err := l.contract.NewProposal(wire.TxAppend, client.WithBytesArguments(raw))
	if err != nil {
		t.Fatal(err)
	}
	tx, err := proposal.EndorseWithContext(ctx)
	if err != nil {
		t.Fatalf("endorse: %v", err)
	}
	altered := tamper(t, l, tx, []byte(`"category":"traffic"`), []byte(`"category":"finance"`))
	_, err = l.finish(ctx, altered)
	var re *ledger.RuleError
	var se *StageError
	if !errors.Is(err, ledger.ErrRefused) || !errors.As(err, &re) || re.Rule != RuleCommitInvalid+"ENDORSEMENT_POLICY_FAILURE" {
		t.Fatalf("got %v, want refusal by rule %sENDORSEMENT_POLICY_FAILURE", err, RuleCommitInvalid)
	}
	if !errors.As(err, &se) || se.Stage != StageCommit {
		t.Fatalf("got %v, want a refusal at the commit stage", err)
	}
	if _, err := l.Record(ctx, rec.ID); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("record of the altered transaction: got %v, want ErrNotFound", err)
	}
	// The batch as signed and endorsed still commits.
	if _, err := l.Append(ctx, b); err != nil {
		t.Fatalf("the unaltered batch: %v", err)
	}
}

// TestTooFewEndorsers: a profile whose endorsers do not meet the
// chaincode's endorsement policy (both organisations) is refused by Init
// before anything is written, naming its field; a ledger opened with it on
// a space already made (Open does not check) gets its transaction marked
// invalid at commit by the peers (ENDORSEMENT_POLICY_FAILURE), which the
// ledger, checking its profile again, reports as unavailable (the batch
// kept by its writer, not refused), and nothing of it is committed.
func TestTooFewEndorsers(t *testing.T) {
	p := twoOrgs(t)
	one := *p
	one.Endorsers, one.EndorsersNeeded = []string{p.Orgs[0].MSPID}, 0
	s, err := ledgertest.NewSpace()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	short, err := Open(ctx, Config{Profile: &one, Chaincode: deploy(t, p)})
	if err != nil {
		t.Fatal(err)
	}
	defer short.Close(ctx)
	err = short.Init(ctx, s.Genesis)
	if !errors.Is(err, ErrEndorsersShort) || !strings.Contains(err.Error(), "field endorsers: the peers of "+p.Orgs[0].MSPID+", every endorser listed, do not satisfy") {
		t.Fatalf("Init with too few endorsers: got %v, want ErrEndorsersShort naming field endorsers", err)
	}
	if _, err := (StateSource{L: short}).Genesis(ctx); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("the genesis after the refused Init: got %v, want ErrNotFound", err)
	}
	if err := short.CheckEndorsers(ctx); !errors.Is(err, ErrEndorsersShort) {
		t.Fatalf("CheckEndorsers: got %v, want ErrEndorsersShort", err)
	}
	// Reads are served; writes would wait for a new profile (/readyz/writes).
	if err := short.sync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := short.Ready(ctx); err != nil {
		t.Fatalf("Ready with too few endorsers: %v", err)
	}
	if err := short.WritesReady(ctx); !errors.Is(err, ErrWritesWait) || !errors.Is(err, ErrEndorsersShort) || !strings.Contains(err.Error(), "field endorsers") {
		t.Fatalf("WritesReady with too few endorsers: got %v, want ErrWritesWait and ErrEndorsersShort naming field endorsers", err)
	}

	l := open(t, p, s.Genesis, nil)
	if err := l.CheckEndorsers(ctx); err != nil {
		t.Fatalf("CheckEndorsers of the network's own profile: %v", err)
	}
	if err := l.sync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.WritesReady(ctx); err != nil || l.Stats().EndorsersAble != len(p.Endorsers) {
		t.Fatalf("WritesReady of the network's own profile, every peer up: %v, %d able of %d", err, l.Stats().EndorsersAble, len(p.Endorsers))
	}
	if len(p.Endorsers) == 2 {
		// Both listed, one asked by the profile, AND of both: Init raises
		// it to two, and a transaction is endorsed by both.
		half := *p
		half.EndorsersNeeded = 1
		h, err := Open(ctx, Config{Profile: &half, Chaincode: l.cfg.Chaincode})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close(ctx)
		if err := h.Init(ctx, s.Genesis); err != nil || h.Stats().EndorsersAsked != 2 {
			t.Fatalf("Init with endorsersNeeded 1 under AND of two: %v, %d asked; want two asked", err, h.Stats().EndorsersAsked)
		}
		p0, _ := s.Participant("p0", "CN-SH")
		r, err := h.Submit(ctx, mustBatch(t, s, s.Authority(), p0))
		if err != nil {
			t.Fatal(err)
		}
		if w := committedTx(t, mustChannel(t, p, 0), l.cfg.Chaincode, r); len(w.endorsements) != 2 {
			t.Fatalf("endorsed by %d, want both", len(w.endorsements))
		}
	}
	l1, err := Open(ctx, Config{Profile: &one, Chaincode: l.cfg.Chaincode})
	if err != nil {
		t.Fatal(err)
	}
	defer l1.Close(ctx)
	p1, err := s.Participant("p1", "CN-BJ")
	if err != nil {
		t.Fatal(err)
	}
	_, err = l1.Append(ctx, mustBatch(t, s, s.Authority(), p1))
	var se *StageError
	if !errors.As(err, &se) || se.Stage != StageCommit || !errors.Is(err, ErrEndorsersShort) || !errors.Is(err, ledger.ErrUnavailable) || errors.Is(err, ledger.ErrRefused) {
		t.Fatalf("got %v, want the transaction invalid at commit reported as unavailable: the profile short of the policy (not a refusal of the batch)", err)
	}
	if _, err := l.Record(ctx, p1.ID); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("record of the refused transaction: got %v, want ErrNotFound", err)
	}
}

func jsonArray(b *ledger.Batch) ([]byte, error) {
	raw, err := json.Marshal(b)
	if err != nil {
		return nil, err
	}
	return append(append([]byte{'['}, raw...), ']'), nil
}

// tamper replaces old by new in the value of every write of the endorsed
// transaction's write set and in its chaincode event (the records), rebuilds the envelope and returns it as a new
// transaction the client will sign.
func tamper(t *testing.T, l *Ledger, tx *client.Transaction, old, new []byte) *client.Transaction {
	t.Helper()
	data, err := tx.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	var prepared gateway.PreparedTransaction
	must(t, proto.Unmarshal(data, &prepared))
	var payload common.Payload
	must(t, proto.Unmarshal(prepared.Envelope.Payload, &payload))
	var ptx peer.Transaction
	must(t, proto.Unmarshal(payload.Data, &ptx))
	var cap peer.ChaincodeActionPayload
	must(t, proto.Unmarshal(ptx.Actions[0].Payload, &cap))
	var prp peer.ProposalResponsePayload
	must(t, proto.Unmarshal(cap.Action.ProposalResponsePayload, &prp))
	var action peer.ChaincodeAction
	must(t, proto.Unmarshal(prp.Extension, &action))
	var txrw rwset.TxReadWriteSet
	must(t, proto.Unmarshal(action.Results, &txrw))
	changed := 0
	for _, ns := range txrw.NsRwset {
		var kv kvrwset.KVRWSet
		must(t, proto.Unmarshal(ns.Rwset, &kv))
		for _, w := range kv.Writes {
			if bytes.Contains(w.Value, old) {
				w.Value = bytes.ReplaceAll(w.Value, old, new)
				changed++
			}
		}
		ns.Rwset = marshal(t, &kv)
	}
	action.Results = marshal(t, &txrw)
	// The records themselves travel in the chaincode event.
	var ce peer.ChaincodeEvent
	must(t, proto.Unmarshal(action.Events, &ce))
	if !replaceInEvent(&ce, old, new) {
		t.Fatalf("the event does not hold %s", old)
	}
	action.Events = marshal(t, &ce)
	if changed == 0 {
		t.Fatalf("no write holds %s", old)
	}
	prp.Extension = marshal(t, &action)
	cap.Action.ProposalResponsePayload = marshal(t, &prp)
	ptx.Actions[0].Payload = marshal(t, &cap)
	payload.Data = marshal(t, &ptx)
	prepared.Envelope = &common.Envelope{Payload: marshal(t, &payload)}
	altered, err := l.ch.gw.NewTransaction(marshal(t, &prepared))
	if err != nil {
		t.Fatal(err)
	}
	return altered
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func marshal(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
