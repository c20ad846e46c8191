package api

import "github.com/tdsc/tdsc/ledger"

// BatchPage is one page of stored batches (GET /ledger/v1/batches).
type BatchPage struct {
	Batches []*ledger.StoredBatch `json:"batches"`
	// Next is the index to continue from; 0 on the last page.
	Next uint64 `json:"next,omitempty"`
}

// ConsistencyResponse is the body of GET /ledger/v1/proof/consistency.
type ConsistencyResponse struct {
	From  uint64   `json:"from"`
	To    uint64   `json:"to"`
	Proof [][]byte `json:"proof"`
}
