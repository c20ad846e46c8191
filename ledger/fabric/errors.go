package fabric

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hyperledger/fabric-gateway/pkg/client"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tdsc/tdsc/chaincode/wire"
	"github.com/tdsc/tdsc/ledger"
)

// Fabric stages named in a StageError.
const (
	StageEndorse  = "endorse"  // the peers ran the chaincode (the rulebook)
	StageSubmit   = "submit"   // the orderer took the endorsed transaction
	StageCommit   = "commit"   // the peers validated and committed its block
	StageEvaluate = "evaluate" // a query
)

// ErrUnavailable reports a network that did not answer: a peer or orderer
// down, or a deadline hit. The batch may or may not have committed: retry
// it (Append is idempotent) once the network is back.
var ErrUnavailable = fmt.Errorf("fabric: network unavailable: %w", ledger.ErrUnavailable)

// RuleCommitInvalid prefixes the rule of a refusal at commit: the peers
// found the transaction invalid (e.g. RuleCommitInvalid+"ENDORSEMENT_POLICY_FAILURE"
// for a transaction altered after endorsement).
const RuleCommitInvalid = "fabric.commit."

// StageError is a failed Fabric call: which stage, which transaction, and the
// ledger error it amounts to (errors.Is works through it).
type StageError struct {
	Stage string
	TxID  string
	Err   error
	retry bool // a read conflict: resubmitting may succeed
}

func (e *StageError) Error() string {
	if e.TxID == "" {
		return fmt.Sprintf("fabric %s: %v", e.Stage, e.Err)
	}
	return fmt.Sprintf("fabric %s of transaction %s: %v", e.Stage, e.TxID, e.Err)
}

func (e *StageError) Unwrap() error { return e.Err }

// classify maps a fabric-gateway error to a *StageError holding the ledger
// error the chaincode sent (decoded from the peers' messages) and, for an
// Append, the index of the batch it names (-1 if none).
func classify(stage string, err error) (*StageError, int) {
	se := &StageError{Stage: stage, Err: err}
	var (
		endorse *client.EndorseError
		submit  *client.SubmitError
		commitS *client.CommitStatusError
		commit  *client.CommitError
	)
	switch {
	case errors.As(err, &endorse):
		se.Stage, se.TxID = StageEndorse, endorse.TransactionID
	case errors.As(err, &submit):
		se.Stage, se.TxID = StageSubmit, submit.TransactionID
	case errors.As(err, &commitS):
		se.Stage, se.TxID = StageCommit, commitS.TransactionID
	case errors.As(err, &commit):
		se.Stage, se.TxID = StageCommit, commit.TransactionID
		se.Err = commitInvalid(commit.Code)
		return se, -1
	}
	// The chaincode's message is in the status message or the details.
	msgs := []string{err.Error()}
	if st, ok := status.FromError(err); ok {
		msgs = append(msgs, st.Message())
	}
	var te *client.TransactionError
	if errors.As(err, &te) {
		for _, d := range te.Details() {
			msgs = append(msgs, d.GetMessage())
		}
	}
	for _, m := range msgs {
		if we, ok := wire.ParseMessage(m); ok {
			se.Err = we.Err()
			if we.Batch != nil {
				return se, *we.Batch
			}
			return se, -1
		}
	}
	if st, ok := status.FromError(err); ok && (isUnavailable(st) || ordererWithoutChannel(stage, st)) {
		se.Err = fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return se, -1
}

// ordererWithoutChannel: a submission the gateway aborted because the
// orderer it chose answered BAD_REQUEST "channel does not exist" — an
// orderer the channel's configuration names that does not order it (yet):
// one joining as a follower, or added as a consenter a moment before it
// runs as one. Fabric's gateway takes any 4xx answer of an orderer as the
// client's fault and asks no other (submitNonBFT), so the submission is
// unavailable, not refused: submitted again, its gateway picks the
// orderers in another order.
func ordererWithoutChannel(stage string, st *status.Status) bool {
	return stage == StageSubmit && st.Code() == codes.Aborted &&
		strings.Contains(st.Message(), "status=BAD_REQUEST") && strings.Contains(st.Message(), "channel does not exist")
}

// isUnavailable: peers down or unreachable, or (FailedPrecondition) the
// gateway does not yet know peers enough to satisfy the endorsement policy,
// as right after a start while gossip finds the other orgs' peers.
func isUnavailable(st *status.Status) bool {
	switch st.Code() {
	case codes.Unavailable, codes.DeadlineExceeded, codes.FailedPrecondition:
		return true
	}
	return false
}

func commitInvalid(code peer.TxValidationCode) error {
	name := peer.TxValidationCode_name[int32(code)]
	return &ledger.RuleError{Rule: RuleCommitInvalid + name, Reason: fmt.Sprintf("the peers found the transaction invalid at commit (%s)", name)}
}

// retryable reports commit codes after which resubmitting the same batches
// is right: another client's transaction in the same block read or wrote the
// same keys.
func retryable(code peer.TxValidationCode) bool {
	return code == peer.TxValidationCode_MVCC_READ_CONFLICT || code == peer.TxValidationCode_PHANTOM_READ_CONFLICT
}

// isLedgerError reports whether err is one of the ledger's own errors or an
// unavailable network (neither is helped by resubmitting at once).
func isLedgerError(err error) bool {
	for _, e := range []error{ledger.ErrMalformed, ledger.ErrUnknownWriter, ledger.ErrBadSignature, ledger.ErrRefused,
		ledger.ErrNotFound, ledger.ErrGenesisMismatch, ErrUnavailable} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
