package fabric

import (
	"errors"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/hyperledger/fabric-protos-go-apiv2/gateway"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tdsc/tdsc/chaincode/wire"
	"github.com/tdsc/tdsc/ledger"
)

// TestPeerFailures: of a failed endorsement, the organisations whose peer
// failed on its own are found; a peer that gave the chaincode's verdict is
// not one of them, nor is an error without details.
func TestPeerFailures(t *testing.T) {
	down := "error in simulation: failed to execute transaction 44: could not launch chaincode tdsc_1:5e01: connection refused"
	verdict := "error in simulation: transaction returned with failure: " + wire.Message(fmt.Errorf("%w: no such agreement", ledger.ErrRefused))
	st, err := status.New(codes.Aborted, "failed to collect enough transaction endorsements").WithDetails(
		&gateway.ErrorDetail{Address: "127.0.0.1:37080", MspId: "Org3MSP", Message: down},
		&gateway.ErrorDetail{Address: "127.0.0.1:37060", MspId: "Org2MSP", Message: verdict},
		&gateway.ErrorDetail{Address: "127.0.0.1:37070", Message: down}, // no organisation named
		// Its answer differs from the first endorser's (a block apart, or
		// the chaincode defined again between them): not a failure of its own.
		&gateway.ErrorDetail{Address: "127.0.0.1:37090", MspId: "Org1MSP", Message: "ProposalResponsePayloads do not match"},
		// The chaincode defined again while this peer ran the proposal.
		&gateway.ErrorDetail{Address: "127.0.0.1:37100", MspId: "Org4MSP", Message: "make sure the chaincode tdsc has been successfully defined on channel audit and try again: " +
			"chaincode cache at sequence 2 but current sequence is 1, chaincode definition for 'tdsc' changed during invoke"},
	)
	if err != nil {
		t.Fatal(err)
	}
	err = fmt.Errorf("endorse error: %w", st.Err())
	if got, want := peerFailures(err), map[string]string{"Org3MSP": down}; !maps.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for _, err := range []error{errors.New("ProposalResponsePayloads do not match"), status.Error(codes.Aborted, "failed to assemble transaction")} {
		if got := peerFailures(err); got != nil {
			t.Fatalf("%v, without details: got %v, want none", err, got)
		}
	}
}

// TestUnableMarks: a mark is set once (the first reports it new), read,
// listed and cleared.
func TestUnableMarks(t *testing.T) {
	var u unableEndorsers
	if u.is("Org3MSP") {
		t.Fatal("marked before any mark")
	}
	if !u.mark("Org3MSP", "down") || u.mark("Org3MSP", "down again") {
		t.Fatal("the first mark must report new, the second not")
	}
	u.mark("Org1MSP", "down")
	if !u.is("Org3MSP") || fmt.Sprint(u.list()) != "[Org1MSP Org3MSP]" {
		t.Fatalf("marks: %v", u.list())
	}
	u.clear("Org3MSP")
	if u.is("Org3MSP") || !u.is("Org1MSP") {
		t.Fatalf("after clearing Org3MSP: %v", u.list())
	}
}

// TestUnableProbesClose: probes start until close, which waits for those
// running; none starts after it (a mark from a health probe racing the
// ledger's Close starts no probe Close would not wait for).
func TestUnableProbesClose(t *testing.T) {
	var u unableEndorsers
	if !u.startProbe() {
		t.Fatal("a probe refused before close")
	}
	closed := make(chan struct{})
	go func() {
		u.close()
		close(closed)
	}()
	select {
	case <-closed:
		t.Fatal("close returned with a probe running")
	case <-time.After(20 * time.Millisecond):
	}
	u.probes.Done()
	<-closed
	if u.startProbe() {
		t.Fatal("a probe started after close")
	}
}
