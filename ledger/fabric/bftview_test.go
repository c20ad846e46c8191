package fabric

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// metricsText is an orderer's metrics as Fabric exposes them: SmartBFT's
// gauges of channel audit (and of another channel, and a counter whose
// name begins like a gauge's).
func metricsText(v BFTView) string {
	return fmt.Sprintf(`# HELP consensus_smartbft_view_number The View number value.
# TYPE consensus_smartbft_view_number gauge
consensus_smartbft_view_number{channel="other"} 99
consensus_smartbft_view_number{channel="audit"} %d
consensus_smartbft_view_number_total{channel="audit"} 7
consensus_smartbft_view_leader_id{channel="audit"} %d
consensus_smartbft_view_proposal_sequence{channel="audit"} %g
consensus_smartbft_viewchange_current_view{channel="audit"} %d
consensus_smartbft_viewchange_real_view{channel="audit"} %d
consensus_smartbft_viewchange_next_view{channel="audit"} %d 1733612345000
`, v.View, v.Leader, float64(v.Sequence), v.ChangerView, v.RealView, v.NextView)
}

func TestChannelGauges(t *testing.T) {
	want := BFTView{View: 5, Leader: 2, Sequence: 1342, ChangerView: 5, RealView: 5, NextView: 6}
	got, err := channelGauges(strings.NewReader(metricsText(want)), "audit", bftGauges)
	if err != nil || fmt.Sprint(got) != "[5 2 1342 5 5 6]" {
		t.Fatalf("got %v, %v; want [5 2 1342 5 5 6] (1.342e+03 read, a timestamp after a value ignored)", got, err)
	}
	for _, c := range []struct{ text, want string }{
		{metricsText(want), "no gauge consensus_smartbft_view_number of channel nope"},
		{`consensus_smartbft_view_number{channel="audit"} NaN`, `gauge consensus_smartbft_view_number of channel audit: value "NaN" is not a whole number`},
		{`consensus_smartbft_view_number{channel="audit"} -1`, `value "-1" is not a whole number`},
		{`consensus_smartbft_view_number{channel="audit"} 2.5`, `value "2.5" is not a whole number`},
		{`consensus_smartbft_view_number{channel="audit"} +Inf`, `value "+Inf" is not a whole number`},
		{`consensus_smartbft_view_number{channel="audit"} 1e300`, `value "1e300" is not a whole number`},
	} {
		channel := "audit"
		if strings.Contains(c.want, "nope") {
			channel = "nope"
		}
		if _, err := channelGauges(strings.NewReader(c.text), channel, bftGauges); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v; want an error containing %q", c.text, err, c.want)
		}
	}
}

// TestReadBFTViews: five orderers of a BFT channel — three level (one a
// decision behind), one two decisions behind, one whose view changer
// moved on — and one whose endpoint answers 500, one with none named.
// Level is the view most are in; the consenters counted level are the
// three, and not every view was read.
func TestReadBFTViews(t *testing.T) {
	views := map[string]BFTView{
		"o1:1": {View: 3, Leader: 2, Sequence: 538, ChangerView: 3, RealView: 3, NextView: 3},
		"o2:1": {View: 3, Leader: 2, Sequence: 538, ChangerView: 3, RealView: 3, NextView: 3},
		"o3:1": {View: 3, Leader: 2, Sequence: 537, ChangerView: 3, RealView: 3, NextView: 3},
		"o4:1": {View: 3, Leader: 2, Sequence: 536, ChangerView: 3, RealView: 3, NextView: 3},
		"o5:1": {View: 3, Leader: 2, Sequence: 538, ChangerView: 3, RealView: 3, NextView: 4},
	}
	ops := map[string]string{}
	for addr, v := range views {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/metrics" {
				http.NotFound(w, r)
				return
			}
			fmt.Fprint(w, metricsText(v))
		}))
		t.Cleanup(srv.Close)
		ops[addr] = srv.URL + "/"
	}
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", 500) }))
	t.Cleanup(broken.Close)
	ops["o6:1"] = broken.URL
	a := OrdererAnswers{Consensus: "BFT", Need: 5}
	for _, addr := range []string{"o1:1", "o2:1", "o3:1", "o4:1", "o5:1", "o6:1", "o7:1"} {
		a.Answers = append(a.Answers, OrdererAnswer{Address: addr, Height: 10})
	}
	ReadBFTViews(context.Background(), nil, "audit", &a, ops)
	level := map[string]bool{"o1:1": true, "o2:1": true, "o3:1": true}
	alone := map[string]bool{"o5:1": true} // asks for view 4; the level ones stay in 3
	for _, x := range a.Answers {
		switch x.Address {
		case "o6:1":
			if x.BFT != nil || !strings.Contains(x.BFTError, "500") {
				t.Errorf("%s: %+v; want the 500 named", x.Address, x)
			}
		case "o7:1":
			if x.BFT != nil || x.BFTError != "" {
				t.Errorf("%s (no endpoint): %+v; want no view", x.Address, x)
			}
		default:
			if x.BFT == nil || x.BFT.Level != level[x.Address] || x.BFT.Alone != alone[x.Address] || x.BFTError != "" {
				t.Errorf("%s: %+v (%v); want level %v, alone %v", x.Address, x.BFT, x.BFTError, level[x.Address], alone[x.Address])
			}
		}
	}
	if st, want := a.BFTStanding(), (BFTStanding{Level: 3, Trailing: 1, Alone: 1, Unread: 2}); st != want {
		t.Errorf("BFTStanding = %+v; want %+v", st, want)
	}
	// Of Raft nothing is read.
	r := OrdererAnswers{Consensus: "etcdraft", Answers: []OrdererAnswer{{Address: "o1:1"}}}
	ReadBFTViews(context.Background(), nil, "audit", &r, ops)
	if r.Answers[0].BFT != nil || r.Answers[0].BFTError != "" {
		t.Errorf("of Raft: %+v", r.Answers[0])
	}
}

// TestLevelBFT: the view most are in wins (the higher on a tie); an
// orderer alone in a higher view is not level, nor are the others when
// the views split evenly and theirs is the lower.
func TestLevelBFT(t *testing.T) {
	v := func(view, leader, seq uint64) *BFTView {
		return &BFTView{View: view, Leader: leader, Sequence: seq, ChangerView: view, RealView: view, NextView: view}
	}
	for _, c := range []struct {
		name  string
		views []*BFTView
		want  []bool
	}{
		{"one ahead in view", []*BFTView{v(3, 2, 10), v(3, 2, 10), v(3, 2, 9), v(4, 3, 10)}, []bool{true, true, true, false}},
		{"a tie", []*BFTView{v(3, 2, 10), v(4, 3, 10)}, []bool{false, true}},
		{"none read", []*BFTView{nil, nil}, []bool{false, false}},
		{"unsettled only", []*BFTView{{View: 1, NextView: 2}}, []bool{false}},
		{"alone after a freeze", []*BFTView{v(0, 1, 350), v(0, 1, 350), v(0, 1, 350), {View: 0, Leader: 1, Sequence: 204, NextView: 1}}, []bool{true, true, true, false}},
	} {
		var answers []OrdererAnswer
		for _, x := range c.views {
			answers = append(answers, OrdererAnswer{BFT: x})
		}
		LevelBFT(answers)
		for i, a := range answers {
			if got := a.BFT != nil && a.BFT.Level; got != c.want[i] {
				t.Errorf("%s: orderer %d level %v, want %v", c.name, i, got, c.want[i])
			}
			// Alone: only the last of "alone after a freeze" (not one
			// changing view with no level orderer to compare with).
			if got, want := a.BFT != nil && a.BFT.Alone, c.name == "alone after a freeze" && i == 3; got != want {
				t.Errorf("%s: orderer %d alone %v, want %v", c.name, i, got, want)
			}
		}
	}
}

func TestProfileOrdererOperations(t *testing.T) {
	base := Profile{Channel: "audit", Chaincode: "tdsc", Orgs: []Org{{MSPID: "Org1MSP", Peer: "p:1", PeerTLSCA: "ca", UserCert: "c", UserKey: "k"}}}
	for _, c := range []struct {
		ops  map[string]string
		want string
	}{
		{map[string]string{"127.0.0.1:7050": "http://127.0.0.1:7052"}, ""},
		{map[string]string{"127.0.0.1:7050": "https://ops.example:9443/"}, ""},
		{map[string]string{"orderer": "http://127.0.0.1:7052"}, `field ordererOperations: key "orderer" must be an orderer's host:port`},
		{map[string]string{"127.0.0.1:7050": "127.0.0.1:7052"}, `field ordererOperations["127.0.0.1:7050"]: "127.0.0.1:7052" must be an operations endpoint's base URL`},
		{map[string]string{"127.0.0.1:7050": "http://127.0.0.1:7052/metrics"}, `must be an operations endpoint's base URL`},
		{map[string]string{"127.0.0.1:7050": "ftp://h:1"}, `must be an operations endpoint's base URL`},
	} {
		p := base
		p.OrdererOperations = c.ops
		err := p.Validate()
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%v: %v; want %q", c.ops, err, c.want)
		}
	}
}

// FuzzChannelGauges: an operations endpoint's answer is whatever the
// endpoint sends. channelGauges must not panic, and what it reads must be
// what the text says: the gauges written back read the same.
func FuzzChannelGauges(f *testing.F) {
	f.Add(metricsText(BFTView{View: 5, Leader: 2, Sequence: 1342, ChangerView: 5, RealView: 5, NextView: 6}))
	f.Add(`consensus_smartbft_view_number{channel="audit"} 1e3`)
	f.Add("consensus_smartbft_view_number{channel=\"audit\"} \x00\n")
	f.Fuzz(func(t *testing.T, text string) {
		vals, err := channelGauges(strings.NewReader(text), "audit", bftGauges)
		if err != nil {
			return
		}
		var b strings.Builder
		for i, name := range bftGauges {
			fmt.Fprintf(&b, "%s{channel=\"audit\"} %d\n", name, vals[i])
		}
		again, err := channelGauges(strings.NewReader(b.String()), "audit", bftGauges)
		if err != nil || fmt.Sprint(again) != fmt.Sprint(vals) {
			t.Fatalf("read %v from %q; written back, read %v, %v", vals, text, again, err)
		}
	})
}
