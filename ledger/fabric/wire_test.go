package fabric

import (
	"bytes"
	"errors"
	"testing"

	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/proto"
)

// envelopeOf is an endorser transaction with one action of chaincode cc: its
// writes (and a read, in another namespace too), its event, two endorsements.
func envelopeOf(t testing.TB, cc string) []byte {
	kv := marshal(t, &kvrwset.KVRWSet{
		Reads:  []*kvrwset.KVRead{{Key: "r/1", Version: &kvrwset.Version{BlockNum: 3, TxNum: 1}}},
		Writes: []*kvrwset.KVWrite{{Key: "b/root", Value: []byte(`{"records":[]}`)}, {Key: "i/rec-1", Value: []byte{1}}, {Key: "gone", IsDelete: true}},
	})
	other := marshal(t, &kvrwset.KVRWSet{Writes: []*kvrwset.KVWrite{{Key: "lscc", Value: []byte("x")}}})
	results := marshal(t, &rwset.TxReadWriteSet{DataModel: rwset.TxReadWriteSet_KV, NsRwset: []*rwset.NsReadWriteSet{
		{Namespace: "_lifecycle", Rwset: other}, {Namespace: cc, Rwset: kv}}})
	events := marshal(t, &peer.ChaincodeEvent{ChaincodeId: cc, TxId: "tx-1", EventName: "tdsc.batches", Payload: []byte(`[{"root":"r"}]`)})
	ext := marshal(t, &peer.ChaincodeAction{Results: results, Events: events,
		Response: &peer.Response{Status: 200, Message: "ok"}, ChaincodeId: &peer.ChaincodeID{Name: cc, Version: "1"}})
	prp := marshal(t, &peer.ProposalResponsePayload{ProposalHash: []byte("hash"), Extension: ext})
	cap := marshal(t, &peer.ChaincodeActionPayload{ChaincodeProposalPayload: []byte("proposal"), Action: &peer.ChaincodeEndorsedAction{
		ProposalResponsePayload: prp,
		Endorsements:            []*peer.Endorsement{{Endorser: []byte("org1"), Signature: []byte("s1")}, {Endorser: []byte("org2"), Signature: []byte("s2")}}}})
	tx := marshal(t, &peer.Transaction{Actions: []*peer.TransactionAction{{Header: []byte("sh"), Payload: cap}}})
	chdr := marshal(t, &common.ChannelHeader{Type: int32(common.HeaderType_ENDORSER_TRANSACTION), ChannelId: "audit", TxId: "tx-1"})
	payload := marshal(t, &common.Payload{Header: &common.Header{ChannelHeader: chdr, SignatureHeader: []byte("sig")}, Data: tx})
	return marshal(t, &common.Envelope{Payload: payload, Signature: []byte("client")})
}

// sameWrites says how a and b differ, or "".
func sameWrites(a, b *endorsedWrites) string {
	switch {
	case (a == nil) != (b == nil):
		return "one is nil"
	case a == nil:
		return ""
	case a.txID != b.txID || a.event != b.event || !bytes.Equal(a.payload, b.payload) || !bytes.Equal(a.prp, b.prp):
		return "transaction id, event or payloads"
	case len(a.writes) != len(b.writes) || len(a.endorsements) != len(b.endorsements):
		return "number of writes or endorsements"
	}
	for i, w := range a.writes { // what the index reads of a write; the library also keeps unknown fields
		if v := b.writes[i]; w.Key != v.Key || w.IsDelete != v.IsDelete || !bytes.Equal(w.Value, v.Value) {
			return "a write"
		}
	}
	for i := range a.endorsements {
		if !proto.Equal(a.endorsements[i], b.endorsements[i]) {
			return "an endorsement"
		}
	}
	return ""
}

func TestWritesInPlace(t *testing.T) {
	env := envelopeOf(t, "tdsc")
	want, err := chaincodeWrites(env, "tdsc")
	if err != nil || want == nil || len(want.writes) != 3 {
		t.Fatalf("the library reads %+v, %v", want, err)
	}
	got, err := writesInPlace(env, "tdsc")
	if err != nil {
		t.Fatalf("a plain envelope not read in place: %v", err)
	}
	if d := sameWrites(got, want); d != "" {
		t.Fatalf("in place and the library differ: %s\n%+v\n%+v", d, got, want)
	}
	// A value is a slice of the envelope, not a copy.
	v := got.writes[0].Value
	if i := bytes.Index(env, v); i < 0 || &env[i] != &v[0] {
		t.Errorf("the write's value was copied")
	}
	if got, err := writesInPlace(env, "other"); err != nil || got != nil {
		t.Errorf("another chaincode's transaction: %+v, %v", got, err)
	}
	// A field twice (the library merges or keeps the last): not plain.
	twice := append(bytes.Clone(env), env...)
	if _, err := writesInPlace(twice, "tdsc"); !errors.Is(err, errNotPlain) {
		t.Errorf("an envelope with its payload twice: %v", err)
	}
	if w, err := validWrites(twice, "tdsc"); err != nil || w == nil {
		t.Errorf("validWrites does not fall back to the library: %+v, %v", w, err)
	}
}

// FuzzWritesInPlace: wherever the protobuf library reads an envelope, the
// in-place reading gives the same writes, or leaves it to the library.
func FuzzWritesInPlace(f *testing.F) {
	f.Add(envelopeOf(f, "tdsc"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, env []byte) {
		want, err := chaincodeWrites(env, "tdsc")
		got, gerr := writesInPlace(env, "tdsc")
		if gerr != nil && !errors.Is(gerr, errNotPlain) {
			t.Fatalf("an error that is not errNotPlain: %v", gerr)
		}
		if err != nil || gerr != nil {
			return // the library refuses it, or it is left to the library
		}
		if d := sameWrites(got, want); d != "" {
			t.Fatalf("in place and the library differ: %s\n%+v\n%+v", d, got, want)
		}
	})
}

// TestKeyLevelPolicy: a transaction that sets a key-level endorsement
// policy in the chaincode's namespace is seen (the audit refuses it); other
// metadata, or one in another namespace, is not.
func TestKeyLevelPolicy(t *testing.T) {
	withMetadata := func(ns string, name string) []byte {
		kv := marshal(t, &kvrwset.KVRWSet{Writes: []*kvrwset.KVWrite{{Key: "b/root", Value: []byte("x")}},
			MetadataWrites: []*kvrwset.KVMetadataWrite{{Key: "b/root", Entries: []*kvrwset.KVMetadataEntry{{Name: name, Value: []byte("policy")}}}}})
		results := marshal(t, &rwset.TxReadWriteSet{DataModel: rwset.TxReadWriteSet_KV, NsRwset: []*rwset.NsReadWriteSet{{Namespace: ns, Rwset: kv}}})
		ext := marshal(t, &peer.ChaincodeAction{Results: results, ChaincodeId: &peer.ChaincodeID{Name: "tdsc"}})
		prp := marshal(t, &peer.ProposalResponsePayload{Extension: ext})
		cap := marshal(t, &peer.ChaincodeActionPayload{Action: &peer.ChaincodeEndorsedAction{ProposalResponsePayload: prp}})
		tx := marshal(t, &peer.Transaction{Actions: []*peer.TransactionAction{{Payload: cap}}})
		chdr := marshal(t, &common.ChannelHeader{Type: int32(common.HeaderType_ENDORSER_TRANSACTION), TxId: "tx-1"})
		return marshal(t, &common.Envelope{Payload: marshal(t, &common.Payload{Header: &common.Header{ChannelHeader: chdr}, Data: tx})})
	}
	for _, c := range []struct {
		ns, name, want string
	}{
		{"tdsc", "VALIDATION_PARAMETER", "b/root"},
		{"tdsc", "other", ""},
		{"othercc", "VALIDATION_PARAMETER", ""},
	} {
		w, err := chaincodeWrites(withMetadata(c.ns, c.name), "tdsc")
		if err != nil || w == nil || w.keyPolicy != c.want {
			t.Errorf("%s %s: got %+v (%v), want key policy %q", c.ns, c.name, w, err, c.want)
		}
	}
}
