package fabric

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// BFTView is what one BFT orderer's metrics say of its SmartBFT view of
// the channel (its operations endpoint's /metrics): the view, the view's
// leader, the sequence of its next decision (SmartBFT counts one per
// decision, across views), and its view changer's views, which equal the
// view once a view change is over.
type BFTView struct {
	View     uint64 `json:"view"`
	Leader   uint64 `json:"leader"` // the leader's consenter ID
	Sequence uint64 `json:"sequence"`
	// ChangerView, RealView, NextView: the view changer's current, real
	// and next view (consensus_smartbft_viewchange_*).
	ChangerView uint64 `json:"changerView"`
	RealView    uint64 `json:"realView"`
	NextView    uint64 `json:"nextView"`
	// Level: in the view and under the leader most of the orderers read
	// are in, settled there, its sequence at most one behind the furthest
	// of those (see LevelBFT). An orderer that has just become a
	// consenter, or started again, may trail — drop the proposals ahead
	// of it, or have its view changer elsewhere — until SmartBFT
	// synchronises it; while it does, a quorum that needs it does not
	// decide, and view changes follow.
	Level bool `json:"level"`
	// Alone: not level, its view changer asking for a view past the one
	// the level orderers are settled in — an orderer that missed the
	// leader's heartbeats (frozen, then thawed) and asks for a view change
	// no other asks for. It can stay so (two of three freezes of 10 s
	// here: over a minute, with and without writes); a restart levels it
	// in seconds.
	Alone bool `json:"alone,omitempty"`
}

// Settled says the view changer is at the view and changes nothing.
func (v BFTView) Settled() bool {
	return v.ChangerView == v.View && v.RealView == v.View && v.NextView == v.View
}

func (v BFTView) String() string {
	s := fmt.Sprintf("view %d (leader %d) at sequence %d", v.View, v.Leader, v.Sequence)
	if !v.Settled() {
		s += fmt.Sprintf(", view changer at %d (real %d, next %d)", v.ChangerView, v.RealView, v.NextView)
	}
	return s
}

// bftGauges are the gauges ReadBFTView reads, in BFTView's order:
// SmartBFT's, in Fabric's metrics (namespace consensus, subsystem
// smartbft), labelled with the channel.
var bftGauges = []string{
	"consensus_smartbft_view_number",
	"consensus_smartbft_view_leader_id",
	"consensus_smartbft_view_proposal_sequence",
	"consensus_smartbft_viewchange_current_view",
	"consensus_smartbft_viewchange_real_view",
	"consensus_smartbft_viewchange_next_view",
}

// maxMetricsBytes bounds what ReadBFTView reads of an endpoint's answer
// (an orderer's metrics are some 100 KB).
const maxMetricsBytes = 8 << 20

// ReadBFTView reads an orderer's SmartBFT view of channel from its
// operations endpoint (base: "http://host:port"), within 2 s.
func ReadBFTView(ctx context.Context, client *http.Client, base, channel string) (BFTView, error) {
	if client == nil {
		client = http.DefaultClient
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	url := strings.TrimSuffix(base, "/") + "/metrics"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return BFTView{}, fmt.Errorf("operations endpoint %q: %w", base, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return BFTView{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return BFTView{}, fmt.Errorf("%s: %s", url, resp.Status)
	}
	vals, err := channelGauges(io.LimitReader(resp.Body, maxMetricsBytes), channel, bftGauges)
	if err != nil {
		return BFTView{}, fmt.Errorf("%s: %w", url, err)
	}
	return BFTView{View: vals[0], Leader: vals[1], Sequence: vals[2], ChangerView: vals[3], RealView: vals[4], NextView: vals[5]}, nil
}

// channelGauges reads, from Prometheus text exposition r, the value of
// each gauge of names labelled with channel alone, a whole number from 0
// to 2^53; one missing, or a value that is not such a number, is an error
// naming it.
func channelGauges(r io.Reader, channel string, names []string) ([]uint64, error) {
	want := make(map[string]int, len(names))
	for i, name := range names {
		want[name+`{channel="`+channel+`"}`] = i
	}
	vals := make([]uint64, len(names))
	seen := make([]bool, len(names))
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), " ")
		i, mine := want[key]
		if !ok || !mine {
			continue
		}
		val, _, _ = strings.Cut(strings.TrimSpace(val), " ") // a timestamp may follow
		f, err := strconv.ParseFloat(val, 64)
		if err != nil || !(f >= 0) || f > 1<<53 || f != math.Trunc(f) {
			return nil, fmt.Errorf("gauge %s of channel %s: value %q is not a whole number from 0 to 2^53", names[i], channel, val)
		}
		vals[i], seen[i] = uint64(f), true
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading the metrics: %w", err)
	}
	for i, ok := range seen {
		if !ok {
			return nil, fmt.Errorf("no gauge %s of channel %s (not a BFT orderer of the channel?)", names[i], channel)
		}
	}
	return vals, nil
}

// ReadBFTViews reads the SmartBFT view of each orderer of a BFT channel
// that ops (an orderer's address as the configuration names it → its
// operations endpoint, Profile.OrdererOperations) names, all at once, and
// marks each level or not (LevelBFT). An orderer without an endpoint gets
// no view; one whose endpoint does not answer gets BFTError. Of any other
// consensus it does nothing.
func ReadBFTViews(ctx context.Context, client *http.Client, channel string, a *OrdererAnswers, ops map[string]string) {
	if a.Consensus != "BFT" || len(ops) == 0 {
		return
	}
	copy(a.Answers, atOnce(a.Answers, func(ans OrdererAnswer) OrdererAnswer {
		if base, ok := ops[ans.Address]; ok {
			if v, err := ReadBFTView(ctx, client, base, channel); err != nil {
				ans.BFTError = firstLine(err.Error())
			} else {
				ans.BFT = &v
			}
		}
		return ans
	}))
	LevelBFT(a.Answers)
}

// LevelBFT marks each answer's BFT view level or not: the view and leader
// most of the views read are in (the higher view on a tie), of those the
// furthest sequence; level is settled in that view under that leader, at
// most one decision behind; alone is unsettled, asking for a view past it.
func LevelBFT(answers []OrdererAnswer) {
	type key struct{ view, leader uint64 }
	count := map[key]int{}
	var best key
	for _, a := range answers {
		if a.BFT == nil || !a.BFT.Settled() {
			continue
		}
		k := key{a.BFT.View, a.BFT.Leader}
		count[k]++
		if c, b := count[k], count[best]; c > b || c == b && k.view > best.view {
			best = k
		}
	}
	var furthest uint64
	for _, a := range answers {
		if a.BFT != nil && a.BFT.Settled() && (key{a.BFT.View, a.BFT.Leader}) == best {
			furthest = max(furthest, a.BFT.Sequence)
		}
	}
	for i := range answers {
		v := answers[i].BFT
		if v == nil {
			continue
		}
		v.Level = count[best] > 0 && v.Settled() && (key{v.View, v.Leader}) == best && v.Sequence+1 >= furthest
		v.Alone = count[best] > 0 && !v.Settled() && v.NextView > best.view
	}
}

// BFTStanding counts a BFT channel's consenters by the views ReadBFTViews
// read: whether one of them may stop, and what the cluster waits for if
// not.
type BFTStanding struct {
	Level, Trailing, Alone int // consenters whose views were read, by what they say
	Away                   int // consenters that did not answer
	Unread                 int // consenters that answered, their views not read
}

// MayStopOne says whether one level consenter may stop with need level
// ones left (the quorum).
func (s BFTStanding) MayStopOne(need int) bool { return s.Level-1 >= need }

// BFTStanding counts the consenters (Counts) by their views.
func (o OrdererAnswers) BFTStanding() BFTStanding {
	var s BFTStanding
	for _, a := range o.Answers {
		switch {
		case !a.Counts():
		case a.Error != "":
			s.Away++
		case a.BFT == nil:
			s.Unread++
		case a.BFT.Level:
			s.Level++
		case a.BFT.Alone:
			s.Alone++
		default:
			s.Trailing++
		}
	}
	return s
}
