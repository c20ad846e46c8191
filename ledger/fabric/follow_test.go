package fabric

import (
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"

	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/ledgertest"
)

// preparedBlock is block n after prev holding txs, as prepareBlock gives a
// block of valid transactions of the chaincode.
func preparedBlock(t *testing.T, n uint64, prev []byte, txs ...*endorsedWrites) *prepared {
	t.Helper()
	data := [][]byte{[]byte(fmt.Sprintf("block %d", n))}
	sum := sha256.Sum256(data[0])
	p := &prepared{Block: &common.Block{Header: &common.BlockHeader{Number: n, PreviousHash: prev, DataHash: sum[:]}, Data: &common.BlockData{Data: data}}, dataHash: sum}
	for i, w := range txs {
		d, err := decodeTx(w, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		p.txs = append(p.txs, preparedTx{i: i, txID: fmt.Sprintf("tx-%d-%d", n, i), d: d})
	}
	return p
}

// TestFileUpdatesOverlap: a follower keeping its index in a file stages
// each group of blocks while the update before is written (addToFile):
// the index answers as one in memory that took the same blocks, and the
// file, opened again, holds them all with the position after the last; a
// group refused half way through (repeating a batch of the update being
// written) leaves the file and the index (read back) with the groups
// before it, and the follower's position there.
func TestFileUpdatesOverlap(t *testing.T) {
	s, w := ledgertest.MustWorkload(t, 800, 5, 3)
	var txs [][]*ledger.Batch
	txs = append(txs, w.Setup)
	for _, st := range w.Streams {
		for i := 0; i < len(st); i += 3 {
			txs = append(txs, st[i:min(len(st), i+3)])
		}
	}
	path := filepath.Join(t.TempDir(), "index.db")
	file := withGenesis(t, fileIndex(t, path), s)
	mem := indexWithGenesis(t, s, false)
	l := &Ledger{view: &view{ix: file, changed: make(chan struct{}), given: newGiven(), next: 1, prevHash: []byte("hash of block 0")}, stop: make(chan struct{})}

	// Blocks of two transactions; groups of one or two blocks; the first
	// group passed, the others given by more.
	prev, n := l.prevHash, uint64(1)
	var groups [][]*prepared
	for k := 0; k < len(txs); {
		var g []*prepared
		for range 1 + len(groups)%2 {
			if k >= len(txs) {
				break
			}
			var ws []*endorsedWrites
			for _, tx := range txs[k:min(len(txs), k+2)] {
				ws = append(ws, committed(t, tx))
				if err := addTx(mem, n, fmt.Sprintf("tx-%d-%d", n, len(ws)-1), committed(t, tx)); err != nil {
					t.Fatal(err)
				}
			}
			k += 2
			b := preparedBlock(t, n, prev, ws...)
			g, prev, n = append(g, b), headerHash(b.Header), n+1
		}
		groups = append(groups, g)
	}
	if len(groups) <= maxUpdatesAtOnce {
		t.Fatalf("%d groups: too few to pass maxUpdatesAtOnce", len(groups))
	}
	rest := groups[1:]
	more := func(<-chan struct{}) []*prepared {
		if len(rest) == 0 {
			return nil
		}
		g := rest[0]
		rest = rest[1:]
		return g
	}
	for g := groups[0]; g != nil; g = more(nil) {
		if err := l.addBlocks(g, more); err != nil {
			t.Fatal(err)
		}
	}
	if l.next != n {
		t.Fatalf("the follower is at block %d, want %d", l.next, n)
	}
	sameIndex(t, mem, file)

	// A refused group after a good one, in one call: the good one stays.
	more2, err := ledgertest.NewWorkload(s, 20, 5, 1)
	if err != nil {
		t.Fatal(err)
	}
	good := preparedBlock(t, n, prev, committed(t, more2.Setup))
	// The refused block repeats a batch of the good one, whose write is
	// in flight while it is staged.
	bad := preparedBlock(t, n+1, headerHash(good.Header), committed(t, more2.Streams[0][:1]), committed(t, more2.Setup[:1]))
	given := false
	err = l.addBlocks([]*prepared{good}, func(<-chan struct{}) []*prepared {
		if given {
			return nil
		}
		given = true
		return []*prepared{bad}
	})
	if err == nil || !strings.Contains(err.Error(), "written twice") {
		t.Fatalf("a group repeating a batch: %v", err)
	}
	if err := addTx(mem, n, fmt.Sprintf("tx-%d-0", n), committed(t, more2.Setup)); err != nil {
		t.Fatal(err)
	}
	if l.next != n+1 {
		t.Fatalf("after the refused group the follower is at block %d, want %d", l.next, n+1)
	}
	sameIndex(t, mem, file)
	if err := file.st.close(); err != nil {
		t.Fatal(err)
	}
	again := fileIndex(t, path)
	sameIndex(t, mem, again)
	if next, _ := again.st.(*diskStore).position(); next != n+1 {
		t.Fatalf("the file's position is block %d, want %d", next, n+1)
	}
}

// TestPrepareDefinition: the follower sees a valid _lifecycle transaction
// that defines its chaincode (its ValidationInfo written), and no other:
// another chaincode's definition, or one the peers marked invalid.
func TestPrepareDefinition(t *testing.T) {
	defining := func(cc string) []byte {
		kv := marshal(t, &kvrwset.KVRWSet{Writes: []*kvrwset.KVWrite{
			{Key: "namespaces/fields/" + cc + "/Sequence", Value: []byte{1}}, {Key: "namespaces/fields/" + cc + "/ValidationInfo", Value: []byte("info")}}})
		results := marshal(t, &rwset.TxReadWriteSet{DataModel: rwset.TxReadWriteSet_KV, NsRwset: []*rwset.NsReadWriteSet{{Namespace: lifecycleNamespace, Rwset: kv}}})
		ext := marshal(t, &peer.ChaincodeAction{Results: results, ChaincodeId: &peer.ChaincodeID{Name: lifecycleNamespace}})
		prp := marshal(t, &peer.ProposalResponsePayload{Extension: ext})
		cap := marshal(t, &peer.ChaincodeActionPayload{Action: &peer.ChaincodeEndorsedAction{ProposalResponsePayload: prp}})
		tx := marshal(t, &peer.Transaction{Actions: []*peer.TransactionAction{{Payload: cap}}})
		chdr := marshal(t, &common.ChannelHeader{Type: int32(common.HeaderType_ENDORSER_TRANSACTION), TxId: "def-" + cc})
		return marshal(t, &common.Envelope{Payload: marshal(t, &common.Payload{Header: &common.Header{ChannelHeader: chdr}, Data: tx})})
	}
	block := func(env []byte, code peer.TxValidationCode) *common.Block {
		md := make([][]byte, common.BlockMetadataIndex_TRANSACTIONS_FILTER+1)
		md[common.BlockMetadataIndex_TRANSACTIONS_FILTER] = []byte{byte(code)}
		return &common.Block{Header: &common.BlockHeader{Number: 5}, Data: &common.BlockData{Data: [][]byte{env}}, Metadata: &common.BlockMetadata{Metadata: md}}
	}
	for _, c := range []struct {
		name string
		b    *common.Block
		want bool
	}{
		{"a definition of the chaincode", block(defining("tdsc"), peer.TxValidationCode_VALID), true},
		{"another chaincode's", block(defining("tdsc2"), peer.TxValidationCode_VALID), false},
		{"marked invalid", block(defining("tdsc"), peer.TxValidationCode_ENDORSEMENT_POLICY_FAILURE), false},
		{"the chaincode's own transaction", block(envelopeOf(t, "tdsc"), peer.TxValidationCode_VALID), false},
	} {
		if got := prepareBlock(c.b, "tdsc", nil).defines; got != c.want {
			t.Errorf("%s: defines %v, want %v", c.name, got, c.want)
		}
	}
}

// TestFollowerReadsBatchTimeout: the follower takes a Raft channel's batch
// timeout from the genesis block and from every configuration block after
// it (an update may change it or the consensus), and the ledgers on its
// view bound their resends by the newest.
func TestFollowerReadsBatchTimeout(t *testing.T) {
	block := func(n uint64, cfg *common.Config) *common.Block {
		ce := &common.ConfigEnvelope{Config: cfg}
		p := &common.Payload{Header: &common.Header{ChannelHeader: mustMarshal(t, &common.ChannelHeader{Type: int32(common.HeaderType_CONFIG)})}, Data: mustMarshal(t, ce)}
		return &common.Block{Header: &common.BlockHeader{Number: n}, Data: &common.BlockData{Data: [][]byte{mustMarshal(t, &common.Envelope{Payload: mustMarshal(t, p)})}}}
	}
	l := &Ledger{view: &view{ix: newIndex(nil), changed: make(chan struct{}), given: newGiven()}}
	var prev []byte
	for n, c := range []struct {
		cfg  *common.Config
		want time.Duration
	}{
		{orderingConfig(t, "etcdraft", "2s"), 2 * time.Second},
		{orderingConfig(t, "etcdraft", "10ms"), 10 * time.Millisecond},
		{orderingConfig(t, "BFT", "10ms"), 0},
	} {
		b := block(uint64(n), c.cfg)
		if n > 0 {
			b.Header.PreviousHash = prev
		}
		p := prepareBlock(b, "tdsc", &l.own)
		p.Header.DataHash = p.dataHash[:]
		if _, err := l.addBlock(p, uint64(n), prev, nil); err != nil {
			t.Fatalf("block %d: %v", n, err)
		}
		prev = headerHash(b.Header)
		if got := time.Duration(l.raftBatch.Load()); got != c.want {
			t.Fatalf("after block %d: batch timeout %v, want %v", n, got, c.want)
		}
	}
}
