package fabric

import (
	"context"
	"fmt"
	"maps"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// bftLevel waits (90 s at most) until every one of the n BFT orderers is
// level (ReadBFTViews, as `tdsc fabric orderers` reads them: in the view
// and under the leader most orderers are in, settled there, at most one
// decision behind the furthest), three looks in a row (200 ms apart). A consenter that has just joined, or an
// orderer started again, may trail for a while — drop the proposals ahead
// of it, or have its view changer elsewhere — until SmartBFT synchronises
// it (ten heartbeat ticks behind); stopping another orderer before then
// leaves a quorum that needs it, and a view change, or several, before it
// decides again. It logs every orderer's view.
func bftLevel(t *testing.T, p *Profile, ch *Channel, n int) {
	t.Helper()
	var ks []string
	for i := 1; i <= n; i++ {
		ks = append(ks, strconv.Itoa(i))
	}
	// The profile's endpoints; of an orderer added since it was read, the
	// script's layout (its port + 2).
	ops := maps.Clone(p.OrdererOperations)
	if ops == nil {
		ops = map[string]string{}
	}
	for i := 1; i <= n; i++ {
		addr := ordererAddress(t, p, strconv.Itoa(i))
		if _, ok := ops[addr]; !ok {
			host, port, _ := net.SplitHostPort(addr)
			k, _ := strconv.Atoi(port)
			ops[addr] = "http://" + net.JoinHostPort(host, strconv.Itoa(k+2))
		}
	}
	ctx := context.Background()
	start := time.Now()
	deadline := start.Add(90 * time.Second)
	looks := 0
	for {
		answers, err := AskOrderers(ctx, ch)
		if err != nil {
			t.Fatal(err)
		}
		ReadBFTViews(ctx, nil, p.Channel, &answers, ops)
		views := make(map[string]OrdererAnswer, len(answers.Answers))
		for _, a := range answers.Answers {
			views[a.Address] = a
		}
		behind := ""
		for _, k := range ks {
			a, ok := views[ordererAddress(t, p, k)]
			if !ok || a.BFT == nil || !a.BFT.Level {
				behind = fmt.Sprintf("orderer %s: %+v", k, a)
				break
			}
		}
		if behind == "" {
			looks++
		} else {
			looks = 0
		}
		if looks == 3 || time.Now().After(deadline) {
			var all []string
			for i := 1; i <= n; i++ {
				a := views[ordererAddress(t, p, strconv.Itoa(i))]
				switch {
				case a.BFT != nil:
					all = append(all, fmt.Sprintf("%d: %v, level %v", i, a.BFT, a.BFT.Level))
				default:
					all = append(all, fmt.Sprintf("%d: %s%s", i, a.Error, a.BFTError))
				}
			}
			if looks < 3 {
				t.Fatalf("orderer(s) %s not level after 90 s: %s; all: %s", strings.Join(ks, ", "), behind, strings.Join(all, "; "))
			}
			t.Logf("orderer(s) %s level after %v: %s", strings.Join(ks, ", "), time.Since(start).Round(time.Millisecond), strings.Join(all, "; "))
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}
