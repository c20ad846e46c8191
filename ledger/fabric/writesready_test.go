package fabric

import (
	"errors"
	"testing"
)

// TestEndorsersCan: writes wait while fewer of the profile's endorsers can
// endorse (neither away nor marked unable) than a transaction asks, and
// the error names each that cannot and why; the count of those able
// follows the marks.
func TestEndorsersCan(t *testing.T) {
	l := &Ledger{cfg: Config{Profile: &Profile{Endorsers: []string{"Org1MSP", "Org2MSP", "Org3MSP"}}}}
	l.heights = newPeerHeights()
	if err := l.endorsersCan(3); err != nil || l.endorsersAble() != 3 {
		t.Fatalf("every endorser well: %v, able %d", err, l.endorsersAble())
	}
	l.unable.mark("Org3MSP", "could not launch chaincode tdsc_1:5e01: connection refused\nmore")
	if err := l.endorsersCan(2); err != nil {
		t.Fatalf("two of three able, two asked: %v", err)
	}
	const want3 = "fabric: writes wait: a transaction asks 3 of the profile's 3 endorsers and 2 can endorse now (Org3MSP: its peer cannot endorse: could not launch chaincode tdsc_1:5e01: connection refused)"
	if err := l.endorsersCan(3); !errors.Is(err, ErrWritesWait) || err.Error() != want3 {
		t.Fatalf("every endorser asked, one unable:\n got %v\nwant %s", err, want3)
	}
	l.heights.setAway("Org2MSP")
	const want2 = "fabric: writes wait: a transaction asks 2 of the profile's 3 endorsers and 1 can endorse now (Org2MSP: its peer's block stream is broken; Org3MSP: its peer cannot endorse: could not launch chaincode tdsc_1:5e01: connection refused)"
	if err := l.endorsersCan(2); err == nil || err.Error() != want2 || l.endorsersAble() != 1 {
		t.Fatalf("two asked, one away and one unable:\n got %v (able %d)\nwant %s", err, l.endorsersAble(), want2)
	}
	l.heights.set("Org2MSP", 5) // its stream delivers a block again
	l.unable.clear("Org3MSP")
	if err := l.endorsersCan(3); err != nil || l.endorsersAble() != 3 {
		t.Fatalf("both back: %v, able %d", err, l.endorsersAble())
	}
}
