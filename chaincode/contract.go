package chaincode

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/hyperledger/fabric-chaincode-go/v2/pkg/cid"
	"github.com/hyperledger/fabric-contract-api-go/v2/contractapi"

	"github.com/tdsc/tdsc/chaincode/wire"
	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/internal/jsondec"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/rulebook"
	"github.com/tdsc/tdsc/policy"
)

// Contract is the tdsc contract. Every error it returns is encoded with
// wire.Message, so clients recover the ledger's typed errors.
type Contract struct {
	contractapi.Contract
	// Log receives one line per Append transaction; nil discards.
	Log *slog.Logger
	// Local returns this endorser's local policy; nil means none.
	Local func() (*LocalPolicy, error)
}

// New returns the contract, ready for contractapi.NewChaincode.
func New(log *slog.Logger) *Contract {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Contract{Log: log}
	c.Name = "tdsc"
	c.Info.Version = "1"
	c.Info.Title = "tdsc audit ledger"
	return c
}

// fail encodes err for the wire.
func fail(err error) error { return errors.New(wire.Message(err)) }

func genesis(st store) (ledger.Genesis, error) {
	v, err := st.GetState(keyGenesis)
	if err != nil {
		return ledger.Genesis{}, err
	}
	if v == nil {
		return ledger.Genesis{}, fmt.Errorf("%w: this chaincode holds no space yet: call %s with the space's genesis", ledger.ErrNotFound, wire.TxInit)
	}
	var g ledger.Genesis
	if err := jsondec.Unmarshal(v, &g); err != nil {
		return ledger.Genesis{}, fmt.Errorf("chaincode: genesis does not decode: %w", err)
	}
	return g, nil
}

// RuleInitByAdmin names the refusal of an Init not signed by an org admin.
const RuleInitByAdmin = "chaincode.init-by-admin"

// Init fixes the space's genesis; only an organisation admin may call it. Calling it again with the same genesis
// does nothing; with another, it fails with ErrGenesisMismatch.
func (c *Contract) Init(ctx contractapi.TransactionContextInterface, genesisJSON string) error {
	st := ctx.GetStub()
	if admin, err := cid.HasOUValue(st, "admin"); err != nil || !admin {
		return fail(&ledger.RuleError{Rule: RuleInitByAdmin, Field: "creator",
			Reason: "only an organisation's admin identity may fix the space's genesis"})
	}
	var g ledger.Genesis
	if err := jsondec.Unmarshal([]byte(genesisJSON), &g); err != nil {
		return fail(&ledger.MalformedError{Rule: ledger.RuleJSON, Field: "genesis", Reason: err.Error()})
	}
	if g.Space == "" || g.Authority.ID == "" || len(g.Authority.Keys) == 0 {
		return fail(&ledger.MalformedError{Rule: ledger.RuleRequired, Field: "genesis", Reason: "needs a space and an authority with a key"})
	}
	if err := g.CheckSuite(); err != nil {
		return fail(err)
	}
	canon, err := json.Marshal(&g)
	if err != nil {
		return fail(err)
	}
	old, err := st.GetState(keyGenesis)
	if err != nil {
		return fail(err)
	}
	if old != nil {
		if string(old) != string(canon) {
			return fail(fmt.Errorf("%w: this chaincode holds space %s's genesis", ledger.ErrGenesisMismatch, g.Space))
		}
		return nil
	}
	return st.PutState(keyGenesis, canon)
}

// Genesis returns the space's genesis as JSON.
func (c *Contract) Genesis(ctx contractapi.TransactionContextInterface) (string, error) {
	g, err := genesis(ctx.GetStub())
	if err != nil {
		return "", fail(err)
	}
	return marshal(g)
}

// Append checks and commits a JSON array of signed batches (the argument,
// or if it is empty the transient field wire.TransientBatchesDeflate,
// compressed, or wire.TransientBatches) and returns a
// JSON array of wire.Accepted, one per batch (indexes are assigned by the
// block order, by readers of the blocks). If any batch is refused the
// transaction fails with an error naming the batch (wire.Error.Batch).
func (c *Contract) Append(ctx contractapi.TransactionContextInterface, batchesJSON string) (string, error) {
	st := ctx.GetStub()
	st.StartWriteBatch()
	g, err := genesis(st)
	if err != nil {
		return "", fail(err)
	}
	var transient map[string][]byte
	if batchesJSON == "" {
		if transient, err = st.GetTransient(); err != nil {
			return "", fail(err)
		}
	}
	batches, sent, err := appendArg(batchesJSON, transient)
	if err != nil {
		return "", fail(err)
	}
	var local *LocalPolicy
	if c.Local != nil {
		if local, err = c.Local(); err != nil {
			return "", fail(err)
		}
	}
	out, err := appendBatches(st, g, local, batches, sent)
	if err != nil {
		return "", fail(err)
	}
	c.Log.Info("append", "tx", st.GetTxID(), "batches", len(batches))
	return marshal(out)
}

// Participant returns a registered participant (identity.Participant JSON).
func (c *Contract) Participant(ctx contractapi.TransactionContextInterface, id string) (string, error) {
	st := ctx.GetStub()
	g, err := genesis(st)
	if err != nil {
		return "", fail(err)
	}
	p, err := newWorldState(st, g).Participant(id)
	if err != nil {
		return "", fail(err)
	}
	if p == nil {
		return "", fail(notFound("participant %s", id))
	}
	return marshal(p)
}

// ParticipantByDID returns the participant registered with did
// (identity.Participant JSON), read from the rulebook's DID index. Until an
// Append has built what an upgraded space's index lacks (ensureKeyIndex),
// the query builds it in its own simulation, which is never committed.
func (c *Contract) ParticipantByDID(ctx contractapi.TransactionContextInterface, did string) (string, error) {
	st := ctx.GetStub()
	g, err := genesis(st)
	if err != nil {
		return "", fail(err)
	}
	p, err := participantByDID(st, g, did)
	if err != nil {
		return "", fail(err)
	}
	if p == nil {
		return "", fail(notFound("no participant is registered with DID %s", did))
	}
	return marshal(p)
}

// participantByDID reads did's participant from the index of st, built
// first where an upgraded space's index lacks entries (ensureKeyIndex).
func participantByDID(st writeStore, g ledger.Genesis, did string) (*identity.Participant, error) {
	ws := newWorldState(st, g)
	if err := ensureKeyIndex(st, ws); err != nil {
		return nil, err
	}
	return rulebook.ParticipantByDID(ws, did)
}

// Rules returns the space's current rules (policy.SpaceRules JSON).
func (c *Contract) Rules(ctx contractapi.TransactionContextInterface) (string, error) {
	st := ctx.GetStub()
	g, err := genesis(st)
	if err != nil {
		return "", fail(err)
	}
	r, err := newWorldState(st, g).Rules()
	if err != nil {
		return "", fail(err)
	}
	if r == nil {
		r = &policy.SpaceRules{}
	}
	return marshal(r)
}

func marshal(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fail(err)
	}
	return string(b), nil
}

func notFound(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ledger.ErrNotFound, fmt.Sprintf(format, args...))
}

// sent is an Append's payload as the client sent it: plain is the JSON array
// of batches, deflated its compressed form (nil if it came uncompressed).
type sent struct{ plain, deflated []byte }

// appendArg decodes Append's batches from its argument or, if that is
// empty, from its transient fields.
func appendArg(batchesJSON string, transient map[string][]byte) ([]*ledger.Batch, sent, error) {
	in := sent{plain: []byte(batchesJSON)}
	if batchesJSON == "" {
		in.plain = transient[wire.TransientBatches]
		if z, ok := transient[wire.TransientBatchesDeflate]; ok {
			var err error
			if in.plain, err = wire.Inflate("transient field "+wire.TransientBatchesDeflate, z); err != nil {
				return nil, sent{}, &ledger.MalformedError{Rule: ledger.RuleJSON, Field: "batches", Reason: err.Error()}
			}
			in.deflated = z
		}
	}
	var raw []jsondec.RawMessage
	if err := jsondec.Unmarshal(in.plain, &raw); err != nil || len(raw) == 0 {
		return nil, sent{}, &ledger.MalformedError{Rule: ledger.RuleJSON, Field: "batches", Reason: "must be a non-empty JSON array of batches"}
	}
	batches := make([]*ledger.Batch, len(raw))
	for i, r := range raw {
		var err error
		if batches[i], err = ledger.DecodeBatch(r); err != nil {
			return nil, sent{}, fmt.Errorf("batch %d: %w", i, err)
		}
	}
	return batches, in, nil
}
