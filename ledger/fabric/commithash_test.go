package fabric

import (
	"bytes"
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
)

// writesTx is an endorser transaction whose one action writes kv in
// namespace ns and, if hashed is set, hashed writes in its collection
// "coll".
func writesTx(t testing.TB, ns string, kv *kvrwset.KVRWSet, hashed *kvrwset.HashedRWSet) []byte {
	t.Helper()
	nsrw := &rwset.NsReadWriteSet{Namespace: ns, Rwset: mustMarshal(t, kv)}
	if hashed != nil {
		nsrw.CollectionHashedRwset = []*rwset.CollectionHashedReadWriteSet{{CollectionName: "coll", HashedRwset: mustMarshal(t, hashed)}}
	}
	results := mustMarshal(t, &rwset.TxReadWriteSet{DataModel: rwset.TxReadWriteSet_KV, NsRwset: []*rwset.NsReadWriteSet{nsrw}})
	ext := mustMarshal(t, &peer.ChaincodeAction{Results: results, ChaincodeId: &peer.ChaincodeID{Name: ns}})
	cap := mustMarshal(t, &peer.ChaincodeActionPayload{Action: &peer.ChaincodeEndorsedAction{
		ProposalResponsePayload: mustMarshal(t, &peer.ProposalResponsePayload{Extension: ext})}})
	tx := mustMarshal(t, &peer.Transaction{Actions: []*peer.TransactionAction{{Payload: cap}}})
	chdr := mustMarshal(t, &common.ChannelHeader{Type: int32(common.HeaderType_ENDORSER_TRANSACTION)})
	return mustMarshal(t, &common.Envelope{Payload: mustMarshal(t, &common.Payload{Header: &common.Header{ChannelHeader: chdr}, Data: tx})})
}

// TestUpdateBytes: a block's state updates in Fabric's deterministic form,
// against bytes written out by hand from txmgr's updates.proto (KVWrite:
// namespace 1, collection 2, key 3, isDelete 4, value 5, version_bytes 6;
// Updates: kvwrites 1) and its rules: namespaces in order, the
// configuration's left out, public keys before a collection's, a key's
// last write, a write of nothing a delete, a hashed write of the empty
// value's hash a delete, each named once.
func TestUpdateBytes(t *testing.T) {
	for n, want := range map[uint64][]byte{0: {0}, 1: {1, 1}, 255: {1, 255}, 256: {2, 1, 0}, 1 << 56: {8, 1, 0, 0, 0, 0, 0, 0, 0}} {
		if got := orderPreserving(n); !bytes.Equal(got, want) {
			t.Errorf("orderPreserving(%d) = %v, want %v", n, got, want)
		}
	}
	empty := sha256.Sum256(nil)
	updates, walked := stateUpdates{}, stateUpdates{}
	for i, env := range [][]byte{
		writesTx(t, "cc", &kvrwset.KVRWSet{Writes: []*kvrwset.KVWrite{{Key: "a", Value: []byte("old")}, {Key: "b", Value: []byte("x")}}}, nil),
		writesTx(t, "cc", &kvrwset.KVRWSet{Writes: []*kvrwset.KVWrite{{Key: "a", Value: []byte("v")}, {Key: "b"}}},
			&kvrwset.HashedRWSet{HashedWrites: []*kvrwset.KVWriteHash{{KeyHash: []byte("kh"), ValueHash: []byte("h")}, {KeyHash: []byte("kd"), ValueHash: empty[:]}}}),
		writesTx(t, "dd", &kvrwset.KVRWSet{Writes: []*kvrwset.KVWrite{{Key: "x", Value: []byte("w")}}}, nil),
		writesTx(t, "", &kvrwset.KVRWSet{Writes: []*kvrwset.KVWrite{{Key: "config", Value: []byte("c")}}}, nil),
	} {
		rw, err := envelopeRW(env)
		if err != nil {
			t.Fatal(err)
		}
		if err := rw.apply(uint64(i), updates); err != nil {
			t.Fatal(err)
		}
		// The walk's own reading of the transaction (chaincodeWrites, of
		// any namespace) gives the same writes.
		for _, ns := range []string{"cc", "dd", ""} {
			if w, err := chaincodeWrites(env, ns); err != nil {
				t.Fatal(err)
			} else if w != nil {
				if err := w.rw.apply(uint64(i), walked); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	want := []byte{
		0x0a, 16, 0x0a, 2, 'c', 'c', 0x1a, 1, 'a', 0x2a, 1, 'v', 0x32, 4, 1, 5, 1, 1, // cc a = v at (5, 1)
		0x0a, 11, 0x1a, 1, 'b', 0x20, 1, 0x32, 4, 1, 5, 1, 1, // cc b deleted at (5, 1): rewritten with nothing
		0x0a, 18, 0x12, 4, 'c', 'o', 'l', 'l', 0x1a, 2, 'k', 'd', 0x20, 1, 0x32, 4, 1, 5, 1, 1, // coll kd deleted: the empty value's hash
		0x0a, 13, 0x1a, 2, 'k', 'h', 0x2a, 1, 'h', 0x32, 4, 1, 5, 1, 1, // coll kh = h
		0x0a, 16, 0x0a, 2, 'd', 'd', 0x1a, 1, 'x', 0x2a, 1, 'w', 0x32, 4, 1, 5, 1, 2, // dd x = w at (5, 2)
	}
	for _, u := range []stateUpdates{updates, walked} {
		var got bytes.Buffer
		writeUpdates(&got, 5, u)
		if !bytes.Equal(got.Bytes(), want) {
			t.Fatalf("update bytes\n got %x\nwant %x", got.Bytes(), want)
		}
	}
}

// TestCommitHash: a block's commit hash is taken when its flags and the
// valid transactions' writes give it, and refused — naming the block's
// hash and the recomputed one — when a flag was flipped after the peer
// committed it, either way; an invalid transaction's writes do not count,
// the chain's earlier hash does, and a key's metadata write is refused
// (it cannot be replayed without the state).
func TestCommitHash(t *testing.T) {
	tx := func(key, val string) []byte {
		return writesTx(t, "cc", &kvrwset.KVRWSet{Writes: []*kvrwset.KVWrite{{Key: key, Value: []byte(val)}}}, nil)
	}
	valid, mvcc := byte(peer.TxValidationCode_VALID), byte(peer.TxValidationCode_MVCC_READ_CONFLICT)
	block := func(flags []byte, txs ...[]byte) *common.Block {
		b := &common.Block{Header: &common.BlockHeader{Number: 1}, Data: &common.BlockData{Data: txs},
			Metadata: &common.BlockMetadata{Metadata: [][]byte{nil, nil, flags, nil, nil}}}
		return b
	}
	check := func(c *commitHasher, b *common.Block) error {
		flags := txFilter(b)
		return c.block(b, flags, func(i int) bool { return i < len(flags) && flags[i] == valid }, nil)
	}
	committed := block([]byte{valid, mvcc}, tx("a", "1"), tx("a", "2"))
	stampCommits(t, chainOf{nil, committed})
	if err := check(&commitHasher{}, committed); err != nil {
		t.Fatalf("as committed: %v", err)
	}
	for _, flags := range [][]byte{{valid, valid}, {mvcc, mvcc}, {mvcc, valid}, {valid}} {
		b := block(flags, committed.Data.Data...)
		b.Metadata.Metadata[common.BlockMetadataIndex_COMMIT_HASH] = committed.Metadata.Metadata[common.BlockMetadataIndex_COMMIT_HASH]
		if err := check(&commitHasher{}, b); err == nil || !strings.Contains(err.Error(), "the flags (or the writes) were altered") {
			t.Errorf("flags %v under the committed hash: got %v", flags, err)
		}
	}
	// The invalid transaction's writes are not the block's updates.
	b := block(committed.Metadata.Metadata[2], committed.Data.Data[0], tx("a", "anything"))
	b.Metadata.Metadata[common.BlockMetadataIndex_COMMIT_HASH] = committed.Metadata.Metadata[common.BlockMetadataIndex_COMMIT_HASH]
	if err := check(&commitHasher{}, b); err != nil {
		t.Errorf("an invalid transaction's writes changed: %v", err)
	}
	// After another chain's blocks, the same block gives another hash.
	if err := check(&commitHasher{last: []byte("another chain")}, committed); err == nil {
		t.Error("taken after another chain's commit hash")
	}
	if err := check(&commitHasher{}, block([]byte{valid}, tx("a", "1"))); err == nil || !strings.Contains(err.Error(), "no commit hash") {
		t.Errorf("no commit hash metadata: got %v", err)
	}
	meta := writesTx(t, "cc", &kvrwset.KVRWSet{MetadataWrites: []*kvrwset.KVMetadataWrite{{Key: "a", Entries: []*kvrwset.KVMetadataEntry{{Name: "x", Value: []byte("y")}}}}}, nil)
	if err := check(&commitHasher{}, block([]byte{valid}, meta)); err == nil || !strings.Contains(err.Error(), "writes a key's metadata") {
		t.Errorf("a metadata write: got %v", err)
	}
}

// FuzzCommitHash: a served block's transactions are any bytes; their
// writes are read for the commit hash without a panic, and the walk's own
// reading of a transaction (chaincodeWrites, which keeps every
// namespace's writes) gives the commit hash the same updates as reading
// the envelope for them alone.
func FuzzCommitHash(f *testing.F) {
	f.Add(writesTx(f, "cc", &kvrwset.KVRWSet{Writes: []*kvrwset.KVWrite{{Key: "a", Value: []byte("v")}, {Key: "b", IsDelete: true}}},
		&kvrwset.HashedRWSet{HashedWrites: []*kvrwset.KVWriteHash{{KeyHash: []byte("k"), ValueHash: []byte("h")}}}))
	f.Add(writesTx(f, "cc", &kvrwset.KVRWSet{MetadataWrites: []*kvrwset.KVMetadataWrite{{Key: "a"}}}, nil))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, env []byte) {
		rw, err := envelopeRW(env)
		if err != nil {
			return
		}
		alone := stateUpdates{}
		errAlone := rw.apply(3, alone)
		w, err := chaincodeWrites(env, "cc")
		if err != nil || w == nil {
			return
		}
		walked := stateUpdates{}
		if errWalked := w.rw.apply(3, walked); (errAlone == nil) != (errWalked == nil) {
			t.Fatalf("metadata write refused one way only: %v, %v", errAlone, errWalked)
		}
		var a, b bytes.Buffer
		writeUpdates(&a, 7, alone)
		writeUpdates(&b, 7, walked)
		if errAlone == nil && !bytes.Equal(a.Bytes(), b.Bytes()) {
			t.Fatalf("the walk's reading gives other updates:\n%x\n%x", a.Bytes(), b.Bytes())
		}
	})
}
