package chaincode

import (
	"encoding/json"
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"

	"github.com/tdsc/tdsc/ledger"
)

// storedLevel is the lowest tree level whose nodes are written to world
// state. Lower nodes (the leaves and the next levels: at most 2^storedLevel
// leaves each) are recomputed from the records when a proof needs them,
// which saves about 1.75 writes per record in every Append.
const storedLevel = 3

// storeNode is the compact.VisitFn of an Append: it writes stored-level nodes.
func storeNode(st store, err *error) compact.VisitFn {
	return func(id compact.NodeID, hash []byte) {
		if *err == nil && id.Level >= storedLevel {
			*err = st.PutState(keyNode(id), hash)
		}
	}
}

// nodeHashes returns the hashes of perfect-subtree nodes of the tree.
func nodeHashes(ws *worldState, ids []compact.NodeID) ([][]byte, error) {
	var keys []string
	for _, id := range ids {
		if id.Level >= storedLevel {
			keys = append(keys, keyNode(id))
		} else {
			for i := id.Index << id.Level; i < (id.Index+1)<<id.Level; i++ {
				keys = append(keys, keyRecord(i))
			}
		}
	}
	if err := ws.prefetch(keys); err != nil {
		return nil, err
	}
	cs := ws.g.CryptoSuite()
	hashes := make([][]byte, len(ids))
	for n, id := range ids {
		if id.Level >= storedLevel {
			if hashes[n] = ws.cache[keyNode(id)]; hashes[n] == nil {
				return nil, fmt.Errorf("chaincode: tree node (%d,%d) missing", id.Level, id.Index)
			}
			continue
		}
		var leaves [][]byte
		for i := id.Index << id.Level; i < (id.Index+1)<<id.Level; i++ {
			v := ws.cache[keyRecord(i)]
			if v == nil {
				return nil, fmt.Errorf("chaincode: record %d of tree node (%d,%d) missing", i, id.Level, id.Index)
			}
			var e entry
			if err := json.Unmarshal(v, &e); err != nil {
				return nil, fmt.Errorf("chaincode: record at index %d does not decode: %w", i, err)
			}
			leaves = append(leaves, cs.Merkle().HashLeaf(e.Record))
		}
		hashes[n] = ledger.MerkleRoot(cs, leaves)
	}
	return hashes, nil
}

// loadRange rebuilds the compact range of the tree of the given size.
func loadRange(ws *worldState, size uint64) (*compact.Range, error) {
	hashes, err := nodeHashes(ws, compact.RangeNodes(0, size, nil))
	if err != nil {
		return nil, err
	}
	rf := &compact.RangeFactory{Hash: ws.g.CryptoSuite().Merkle().HashChildren}
	return rf.NewRange(0, size, hashes)
}

// fetch returns the hashes of a proof.
func fetch(ws *worldState, ns proof.Nodes) ([][]byte, error) {
	hashes, err := nodeHashes(ws, ns.IDs)
	if err != nil {
		return nil, err
	}
	return ns.Rehash(hashes, ws.g.CryptoSuite().Merkle().HashChildren)
}
