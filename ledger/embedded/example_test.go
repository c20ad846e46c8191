package embedded_test

import (
	"context"
	"fmt"
	"os"

	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/embedded"
	"github.com/tdsc/tdsc/ledger/ledgertest"
)

// Example creates a ledger, lets the authority register a participant in one
// signed batch, and reads the record back with its inclusion proof.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "ledger-example-")
	defer os.RemoveAll(dir)
	space, _ := ledgertest.NewSpace() // a genesis, the authority key and record builders

	st, err := embedded.Open(ctx, dir, space.Genesis, embedded.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer st.Close(ctx)

	rec, _ := space.Participant("hospital-1", "CN-SH")
	batch, _ := ledger.NewBatch(space.Genesis.Space, space.Authority(), space.AuthorityKey, []ledger.Record{rec})
	rc, err := st.Append(ctx, batch)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("index", rc.FirstIndex, "tree size", rc.TreeSize)

	p, _ := st.Record(ctx, rec.ID)
	fmt.Println(p.Record.Kind, p.Record.Participant.ID, "proof nodes", len(p.Proof))
	// Output:
	// index 0 tree size 1
	// participant.registered hospital-1 proof nodes 0
}
