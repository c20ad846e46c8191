package fabric_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/fabric"
)

// Open a space's ledger on the local network (scripts/fabric.sh up), append
// a signed batch and read its receipt; refusals come back as the rulebook's.
func ExampleOpen() {
	ctx := context.Background()
	p, err := fabric.LoadProfile(".cache/fabric/net/profile.json")
	if err != nil {
		fmt.Println(err)
		return
	}
	l, err := fabric.Open(ctx, fabric.Config{Profile: p, Chaincode: "tdsc"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Close(ctx)
	var batch *ledger.Batch // ledger.NewBatch(space, writer, key, records)
	r, err := l.Submit(ctx, batch)
	var re *ledger.RuleError
	var se *fabric.StageError
	switch {
	case errors.As(err, &re) && errors.As(err, &se):
		fmt.Printf("refused at %s by rule %s: %s\n", se.Stage, re.Rule, re.Reason)
	case err != nil:
		fmt.Println(err)
	default:
		fmt.Printf("batch %s: records %d..%d in transaction %s, block %d\n", r.BatchRoot, r.FirstIndex, r.TreeSize-1, r.TxID, r.Block)
	}
}
