package fabric

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tdsc/tdsc/chaincode/wire"
	"github.com/tdsc/tdsc/ledger"
)

// TestRefusalFromPeerReadsOnce: a rulebook refusal the chaincode sends as its
// wire error comes out of classify as the same *ledger.RuleError, its
// message read once, whichever way the gateway wrapped the peer's message.
func TestRefusalFromPeerReadsOnce(t *testing.T) {
	sent := &ledger.RuleError{Rule: "objection.resolve-once", Field: "objection.id", RecordID: "objection.resolved/o1",
		Reason: "objection o1 is already resolved"}
	peerMsg := "chaincode response 500, " + wire.Message(&wire.BatchError{Index: 1, Err: sent})
	for name, err := range map[string]error{
		"grpc status": status.Error(codes.Aborted, peerMsg),
		"plain":       errors.New("evaluate call to endorser returned error: " + peerMsg),
	} {
		t.Run(name, func(t *testing.T) {
			se, batch := classify(StageEndorse, err)
			var re *ledger.RuleError
			if !errors.As(se, &re) || *re != *sent || batch != 1 {
				t.Fatalf("classify = %v (batch %d), want %v in batch 1", se, batch, sent)
			}
			msg := se.Error()
			if !strings.HasSuffix(msg, sent.Error()) {
				t.Errorf("message %q does not end with the chaincode's %q", msg, sent.Error())
			}
			for _, fact := range []string{sent.Rule, sent.RecordID, sent.Reason, "refused"} {
				if n := strings.Count(msg, fact); n != 1 {
					t.Errorf("%q reads %d times in %q", fact, n, msg)
				}
			}
		})
	}
}

// TestOrdererWithoutChannelIsUnavailable: Fabric's gateway aborts a
// submission when the one orderer it asked answers BAD_REQUEST — of an
// orderer the configuration names that does not order the channel yet
// (joining as a follower, a consenter a moment before it runs), "channel
// does not exist". That is a submission to make again, not a refusal; a
// BAD_REQUEST for another reason, or the same words at another stage,
// stays what it is.
func TestOrdererWithoutChannelIsUnavailable(t *testing.T) {
	gone := "received unsuccessful response from orderer: status=BAD_REQUEST, info=channel does not exist"
	for _, c := range []struct {
		stage       string
		err         error
		unavailable bool
	}{
		{StageSubmit, status.Error(codes.Aborted, gone), true},
		{StageSubmit, status.Error(codes.Aborted, "received unsuccessful response from orderer: status=BAD_REQUEST, info=envelope too large"), false},
		{StageSubmit, status.Error(codes.Aborted, "received unsuccessful response from orderer: status=FORBIDDEN, info=channel does not exist"), false},
		{StageEndorse, status.Error(codes.Aborted, gone), false},
		{StageSubmit, status.Error(codes.Unavailable, "no orderers could successfully process transaction"), true},
	} {
		se, _ := classify(c.stage, c.err)
		if got := errors.Is(se, ErrUnavailable); got != c.unavailable {
			t.Errorf("classify(%s, %v): unavailable %v, want %v", c.stage, c.err, got, c.unavailable)
		}
	}
}
