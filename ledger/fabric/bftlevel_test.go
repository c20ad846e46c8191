package fabric

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// bftView is what one orderer's metrics say of its SmartBFT view of the
// channel: the view's number, its leader's ID, and the sequence it
// proposes next (SmartBFT counts it across views: one per decision).
type bftView struct {
	View, Leader, Seq uint64
	// Its view changer's current, real and next views: past View while it
	// changes view, or while it went on without the others.
	Current, Real, Next uint64
}

// settled says the view changer agrees with the view and changes nothing.
func (v bftView) settled() bool {
	return v.Current == v.View && v.Real == v.View && v.Next == v.View
}

func (v bftView) String() string {
	s := fmt.Sprintf("view %d (leader %d) at sequence %d", v.View, v.Leader, v.Seq)
	if !v.settled() {
		s += fmt.Sprintf(", view changer at %d (real %d, next %d)", v.Current, v.Real, v.Next)
	}
	return s
}

// bftGauges names the gauges bftViewOf reads (SmartBFT's, in Fabric's
// metrics: the namespace consensus, the subsystem smartbft).
var bftGauges = []string{
	"consensus_smartbft_view_number",
	"consensus_smartbft_view_leader_id",
	"consensus_smartbft_view_proposal_sequence",
	"consensus_smartbft_viewchange_current_view",
	"consensus_smartbft_viewchange_real_view",
	"consensus_smartbft_viewchange_next_view",
}

// bftViewOf reads orderer k's SmartBFT view of channel from its
// operations endpoint (the orderer's port + 2, scripts/fabric.sh).
func bftViewOf(ctx context.Context, t *testing.T, p *Profile, k string) (bftView, error) {
	host, port, err := net.SplitHostPort(ordererAddress(t, p, k))
	if err != nil {
		return bftView{}, err
	}
	n, _ := strconv.Atoi(port)
	url := "http://" + net.JoinHostPort(host, strconv.Itoa(n+2)) + "/metrics"
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return bftView{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return bftView{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return bftView{}, fmt.Errorf("%s: %s", url, resp.Status)
	}
	vals, err := channelGauges(bufio.NewScanner(resp.Body), p.Channel, bftGauges)
	if err != nil {
		return bftView{}, fmt.Errorf("%s: %w", url, err)
	}
	return bftView{View: vals[0], Leader: vals[1], Seq: vals[2], Current: vals[3], Real: vals[4], Next: vals[5]}, nil
}

// channelGauges reads, from Prometheus text lines, the value of each gauge
// of names labelled with channel (and no other label); a gauge missing is
// an error.
func channelGauges(sc *bufio.Scanner, channel string, names []string) ([]uint64, error) {
	want := make(map[string]int, len(names))
	for i, name := range names {
		want[name+`{channel="`+channel+`"}`] = i
	}
	vals := make([]uint64, len(names))
	seen := make([]bool, len(names))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), " ")
		i, mine := want[key]
		if !ok || !mine {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil || !(f >= 0) || math.IsInf(f, 1) { // NaN too
			return nil, fmt.Errorf("%s: value %q is not a count", key, val)
		}
		vals[i], seen[i] = uint64(f), true
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for i, ok := range seen {
		if !ok {
			return nil, fmt.Errorf("no gauge %s of channel %s", names[i], channel)
		}
	}
	return vals, nil
}

// bftLevel waits (90 s at most) until BFT orderer k is level with the
// cluster's leader, three looks in a row (200 ms apart): in the leader's
// view under the same leader, both view changers settled there, its next
// proposal's sequence at most one behind the leader's (the writers keep
// the leader a decision ahead at times). A consenter that has just joined
// may trail for a while — drop the proposals ahead of it, or have its view
// changer elsewhere — until SmartBFT synchronises it (ten heartbeat ticks
// behind); stopping another orderer before then leaves a quorum that
// needs it, and a view change, or several, before it decides again. It
// logs every orderer's view.
func bftLevel(t *testing.T, p *Profile, k string, n int) {
	t.Helper()
	ctx := context.Background()
	start := time.Now()
	deadline := start.Add(90 * time.Second)
	looks := 0
	for {
		leader := clusterLeader(t, p)
		lv, lerr := bftViewOf(ctx, t, p, leader)
		kv, kerr := bftViewOf(ctx, t, p, k)
		if lerr == nil && kerr == nil && lv.settled() && kv.settled() &&
			kv.View == lv.View && kv.Leader == lv.Leader && kv.Seq+1 >= lv.Seq {
			looks++
		} else {
			looks = 0
		}
		if looks == 3 || time.Now().After(deadline) {
			var views []string
			for i := 1; i <= n; i++ {
				c := strconv.Itoa(i)
				v, err := bftViewOf(ctx, t, p, c)
				if err != nil {
					views = append(views, c+": "+err.Error())
				} else {
					views = append(views, c+": "+v.String())
				}
			}
			all := strings.Join(views, "; ")
			if looks < 3 {
				t.Fatalf("orderer %s not level with the leader %s after 90 s: %v (%v), leader %v (%v); all: %s", k, leader, kv, kerr, lv, lerr, all)
			}
			t.Logf("orderer %s level with the leader %s after %v: %s", k, leader, time.Since(start).Round(time.Millisecond), all)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestChannelGauges(t *testing.T) {
	names := []string{"consensus_smartbft_view_number", "consensus_smartbft_view_proposal_sequence"}
	text := `# HELP consensus_smartbft_view_number The View number value.
# TYPE consensus_smartbft_view_number gauge
consensus_smartbft_view_number{channel="other"} 9
consensus_smartbft_view_number{channel="audit"} 5
consensus_smartbft_view_proposal_sequence{channel="audit"} 1.342e+03
consensus_smartbft_view_number_total{channel="audit"} 7
`
	got, err := channelGauges(bufio.NewScanner(strings.NewReader(text)), "audit", names)
	if err != nil || len(got) != 2 || got[0] != 5 || got[1] != 1342 {
		t.Fatalf("got %v, %v; want [5 1342]", got, err)
	}
	if _, err := channelGauges(bufio.NewScanner(strings.NewReader(text)), "nope", names); err == nil || !strings.Contains(err.Error(), "no gauge consensus_smartbft_view_number of channel nope") {
		t.Fatalf("a channel without the gauges: %v", err)
	}
	bad := `consensus_smartbft_view_number{channel="audit"} NaN` + "\n" + `consensus_smartbft_view_proposal_sequence{channel="audit"} 1`
	if _, err := channelGauges(bufio.NewScanner(strings.NewReader(bad)), "audit", names); err == nil || !strings.Contains(err.Error(), "not a count") {
		t.Fatalf("NaN: %v", err)
	}
}
