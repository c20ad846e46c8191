package fabric

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	"github.com/hyperledger/fabric-protos-go-apiv2/orderer/etcdraft"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	grpcpeer "google.golang.org/grpc/peer"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// ErrNoOrderer is wrapped by WritesReady's error when no orderer of the
// channel answers (of a BFT cluster: fewer than its quorum): a
// transaction would be endorsed and then wait to be ordered (retried as
// unavailable for the ledger's timeout).
var ErrNoOrderer = errors.New("no orderer of the channel answers")

// ordererEndpoint is one orderer the channel's configuration names, with
// the TLS roots of its organisation, and whether the configuration names
// its address a consenter (nil: unknown — no endpoint's address is a
// consenter's, as where the consenters talk on a cluster listener of
// their own, or an endpoint names the orderer by another host name; then
// certs holds the consenters' TLS certificates, and the one it serves
// says: askOrdererEnds).
type ordererEndpoint struct {
	org, addr string
	roots     *x509.CertPool
	consenter *bool
	certs     [][]byte // DER; set only where consenter is nil
}

// channelOrderers reads the orderers from a channel configuration: each
// orderer organisation's Endpoints with its MSP's TLS root and
// intermediate certificates, and the channel's older global
// OrdererAddresses (with every orderer organisation's roots) for an
// endpoint no organisation names. In the order the configuration gives.
func channelOrderers(cfg *common.Config) ([]ordererEndpoint, error) {
	og := cfg.GetChannelGroup().GetGroups()["Orderer"]
	if og == nil {
		return nil, errors.New("the channel configuration has no Orderer group")
	}
	all := x509.NewCertPool()
	var out []ordererEndpoint
	seen := map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(og.GetGroups())) {
		g := og.Groups[name]
		roots := x509.NewCertPool()
		if v := g.GetValues()["MSP"]; v != nil {
			var mc msp.MSPConfig
			var fc msp.FabricMSPConfig
			if err := proto.Unmarshal(v.Value, &mc); err != nil {
				return nil, fmt.Errorf("orderer organisation %s: MSP: %w", name, err)
			}
			if err := proto.Unmarshal(mc.Config, &fc); err != nil {
				return nil, fmt.Errorf("orderer organisation %s: MSP: %w", name, err)
			}
			for _, c := range slices.Concat(fc.TlsRootCerts, fc.TlsIntermediateCerts) {
				roots.AppendCertsFromPEM(c)
				all.AppendCertsFromPEM(c)
			}
		}
		v := g.GetValues()["Endpoints"]
		if v == nil {
			continue
		}
		var ends common.OrdererAddresses
		if err := proto.Unmarshal(v.Value, &ends); err != nil {
			return nil, fmt.Errorf("orderer organisation %s: Endpoints: %w", name, err)
		}
		for _, a := range ends.Addresses {
			if !seen[a] {
				seen[a] = true
				out = append(out, ordererEndpoint{org: name, addr: a, roots: roots})
			}
		}
	}
	if v := cfg.GetChannelGroup().GetValues()["OrdererAddresses"]; v != nil {
		var ends common.OrdererAddresses
		if err := proto.Unmarshal(v.Value, &ends); err != nil {
			return nil, fmt.Errorf("OrdererAddresses: %w", err)
		}
		for _, a := range ends.Addresses {
			if !seen[a] {
				seen[a] = true
				out = append(out, ordererEndpoint{addr: a, roots: all})
			}
		}
	}
	if len(out) == 0 {
		return nil, errors.New("the channel configuration names no orderer endpoint")
	}
	markConsenters(cfg, out)
	return out, nil
}

// markConsenters sets each of ends' consenter: whether its address is a
// consenter's (host and port) in cfg, once one endpoint's is. An endpoint
// the configuration names before it names the orderer a consenter (an
// orderer joining) is not one. Where no endpoint's address is a
// consenter's, each is given the consenters' server TLS certificates
// instead (certs), for the one it serves to say.
func markConsenters(cfg *common.Config, ends []ordererEndpoint) {
	_, cs := configConsenters(cfg)
	named := func(addr string) bool {
		return slices.ContainsFunc(cs, func(c consenter) bool { return c.addr == addr })
	}
	if !slices.ContainsFunc(ends, func(e ordererEndpoint) bool { return named(e.addr) }) {
		var certs [][]byte
		for _, c := range cs {
			if c.tlsCert != nil {
				certs = append(certs, c.tlsCert)
			}
		}
		for i := range ends {
			ends[i].certs = certs
		}
		return
	}
	for i := range ends {
		is := named(ends[i].addr)
		ends[i].consenter = &is
	}
}

// consenter is one consenter a channel configuration names: its address
// (host:port, where the other consenters reach it) and its server TLS
// certificate (DER; nil if not PEM).
type consenter struct {
	addr    string
	tlsCert []byte
}

// configConsenters reads cfg's consensus type and its consenters: a Raft
// cluster's, in the type's metadata; a BFT cluster's consenter mapping.
// cs is nil if unreadable.
func configConsenters(cfg *common.Config) (typ string, cs []consenter) {
	g := cfg.GetChannelGroup().GetGroups()["Orderer"]
	var ct orderer.ConsensusType
	if v := g.GetValues()["ConsensusType"]; v == nil || proto.Unmarshal(v.Value, &ct) != nil {
		return "", nil
	}
	of := func(host string, port uint32, cert []byte) consenter {
		c := consenter{addr: net.JoinHostPort(host, strconv.Itoa(int(port)))}
		if b, _ := pem.Decode(cert); b != nil {
			c.tlsCert = b.Bytes
		}
		return c
	}
	switch ct.Type {
	case "etcdraft":
		var md etcdraft.ConfigMetadata
		if proto.Unmarshal(ct.Metadata, &md) == nil {
			cs = []consenter{}
			for _, c := range md.Consenters {
				cs = append(cs, of(c.Host, c.Port, c.ServerTlsCert))
			}
		}
	case "BFT":
		var os common.Orderers
		if v := g.GetValues()["Orderers"]; v != nil && proto.Unmarshal(v.Value, &os) == nil {
			cs = []consenter{}
			for _, c := range os.ConsenterMapping {
				cs = append(cs, of(c.Host, c.Port, c.ServerTlsCert))
			}
		}
	}
	return ct.Type, cs
}

// ordering is a channel configuration's consensus type and how many
// consenters it names: a Raft cluster's (in the type's metadata) or a BFT
// cluster's consenter mapping; -1 if unreadable.
type ordering struct {
	typ        string // etcdraft, BFT
	consenters int
}

// configOrdering reads cfg's ordering.
func configOrdering(cfg *common.Config) ordering {
	typ, cs := configConsenters(cfg)
	if cs == nil {
		return ordering{typ: typ, consenters: -1}
	}
	return ordering{typ: typ, consenters: len(cs)}
}

// String is the ordering as a report gives it: "etcdraft, 3 consenters".
func (o ordering) String() string {
	switch o.consenters {
	case -1:
		return o.typ
	case 1:
		return o.typ + ", 1 consenter"
	}
	return fmt.Sprintf("%s, %d consenters", o.typ, o.consenters)
}

// raftBatchTimeout is cfg's batch timeout (the Orderer group's
// BatchTimeout) when its orderers are a Raft cluster; 0 otherwise, or if
// unreadable. A BFT cluster does not lose what it took: every consenter
// holds a request in its pool until it is ordered (and refuses it again as
// one it has), so its transactions keep the constant resendAfter.
func raftBatchTimeout(cfg *common.Config) time.Duration {
	if typ, _ := configConsenters(cfg); typ != "etcdraft" {
		return 0
	}
	var bt orderer.BatchTimeout
	v := cfg.GetChannelGroup().GetGroups()["Orderer"].GetValues()["BatchTimeout"]
	if v == nil || proto.Unmarshal(v.Value, &bt) != nil {
		return 0
	}
	d, err := time.ParseDuration(bt.Timeout)
	if err != nil || d <= 0 {
		return 0
	}
	return d
}

// quorum is how many of a channel's orderers (ends of them named as
// endpoints) must answer for it to order: of a BFT cluster of n
// consenters Fabric's quorum, ceil((n+f+1)/2) with f = (n-1)/3 (of four,
// three), at most ends; else one (a Raft orderer that answers with a
// block knows a leader).
func (o ordering) quorum(ends int) int {
	if o.typ != "BFT" || o.consenters < 1 {
		return 1
	}
	n := o.consenters
	f := (n - 1) / 3
	return min((n+f+2)/2, ends)
}

// ordererRefresh is how long the orderers read from the channel's
// configuration are used before it is read again (at once after a probe
// in which none answered: a configuration may have moved them).
const ordererRefresh = time.Minute

// orderers asks the channel's orderers whether they answer (askOrderers).
type orderers struct {
	mu        sync.Mutex
	read      time.Time // when ends were read from the configuration
	ends      []ordererEndpoint
	consensus ordering               // the configuration's: how many must answer
	conns     map[string]ordererConn // by address
	closed    bool                   // close was called: no connection is made
}

// ordererConn is a connection to an orderer and the TLS roots it trusts.
type ordererConn struct {
	*grpc.ClientConn
	roots *x509.CertPool
}

// askOrderers asks each orderer the channel's newest configuration names
// for the channel's newest block (Deliver, as this ledger's client
// identity), at once, each for at most answerWithin: their answers, and
// nil if enough answer with the block; else an error wrapping
// ErrNoOrderer naming each and why. It reaches them as a peer does, from
// the configuration's endpoints and TLS roots, not the profile's orderer
// (which only the network script uses). An orderer that answers with a
// block knows a leader to order (of a Raft cluster of three or more: one
// without answers SERVICE_UNAVAILABLE, deliverRefused); a BFT orderer
// serves blocks with or without a quorum, so of a BFT cluster a quorum
// must answer (ordering.quorum).
func (l *Ledger) askOrderers(ctx context.Context) (OrdererAnswers, error) {
	ends, consensus, err := l.orderers.endpoints(ctx, l.ch)
	if err != nil {
		return OrdererAnswers{}, fmt.Errorf("%w: reading the orderers from the channel's configuration: %w", ErrNoOrderer, err)
	}
	answers, err := askOrdererEnds(ctx, l.ch, ends, consensus, l.orderers.conn)
	if err != nil {
		return OrdererAnswers{}, err
	}
	if err := answers.Err(); err != nil {
		l.orderers.stale()
		return answers, err
	}
	return answers, nil
}

// Orderers is what the channel's orderers answer now, as WritesReady
// asks them (askOrderers), and, of a BFT channel whose operations
// endpoints the profile names, their SmartBFT views (ReadBFTViews): what
// `tdsc fabric orderers` shows, for the service's metrics. Both are
// shared by the callers of a second (HeightFresh): two scrapers and a
// readiness probe ask each orderer once. The error is the answers' own
// (Err), or why none could be asked (the answers then empty).
func (l *Ledger) Orderers(ctx context.Context) (OrdererAnswers, error) {
	answers, err := l.viewProbe.ask(ctx, l.askOrdererViews, time.Now)
	answers.Answers = slices.Clone(answers.Answers) // the probe's answer is shared
	return answers, err
}

// askOrdererViews is askOrderers' answers (shared with WritesReady's
// probes) with the orderers' SmartBFT views read.
func (l *Ledger) askOrdererViews(ctx context.Context) (OrdererAnswers, error) {
	answers, err := l.ordererProbe.ask(ctx, l.askOrderers, time.Now)
	answers.Answers = slices.Clone(answers.Answers) // the probe's answer is shared
	ReadBFTViews(ctx, nil, l.cfg.Profile.Channel, &answers, l.cfg.Profile.OrdererOperations)
	return answers, err
}

// OrdererAnswer is what one orderer the channel's configuration names
// answered when asked for the newest block.
type OrdererAnswer struct {
	Org     string `json:"org,omitempty"` // its orderer organisation ("": the channel's global addresses)
	Address string `json:"address"`
	// Consenter: whether the configuration names its address a consenter,
	// or, where no endpoint's address is a consenter's, the certificate it
	// served one's (absent: unknown — it did not answer, or no answer
	// served a consenter's certificate). The answer of one that is not (an
	// orderer joining: named an endpoint before a consenter) does not
	// count towards Need.
	Consenter *bool `json:"consenter,omitempty"`
	// Height: the newest block's number + 1, if it answered; else Error.
	Height uint64 `json:"height,omitempty"`
	Error  string `json:"error,omitempty"`
	// BFT: of a BFT channel, its SmartBFT view, read from its operations
	// endpoint where the profile names one (ReadBFTViews); else BFTError
	// says why not.
	BFT      *BFTView `json:"bft,omitempty"`
	BFTError string   `json:"bftError,omitempty"`
}

// OrdererAnswers is what the orderers the channel's configuration names
// answered, with the configuration's consensus and how many must answer
// for the channel to order: one of a Raft cluster (an orderer that knows
// no leader answers SERVICE_UNAVAILABLE), a quorum of a BFT cluster.
type OrdererAnswers struct {
	Consensus string          `json:"consensus"` // etcdraft, BFT ("" if the configuration says none)
	Need      int             `json:"need"`      // answers the channel needs to order
	Answers   []OrdererAnswer `json:"answers"`
}

// Err says whether fewer than Need of the orderers answered with a block:
// an error wrapping ErrNoOrderer naming each that did not and why; nil if
// enough did.
func (o OrdererAnswers) Err() error {
	whys := make([]string, 0, len(o.Answers))
	for _, a := range o.Answers {
		if a.Error != "" {
			whys = append(whys, a.Address+": "+a.Error)
		}
	}
	answered := o.Answering()
	switch {
	case answered >= max(o.Need, 1):
		return nil
	case answered == 0:
		return fmt.Errorf("%w (%s)", ErrNoOrderer, strings.Join(whys, "; "))
	}
	return &tooFewOrderers{fmt.Sprintf("too few orderers of the channel answer: %d of the %s cluster's %d, its quorum is %d (%s)", answered, o.Consensus, o.Consenters(), o.Need, strings.Join(whys, "; "))}
}

// Answering is how many of the orderers that count (Counts) answered
// with the newest block.
func (o OrdererAnswers) Answering() int {
	n := 0
	for _, a := range o.Answers {
		if a.Counts() && a.Error == "" {
			n++
		}
	}
	return n
}

// Counts says whether a's answer counts towards the answers the channel
// needs: it is a consenter's, or one whose role is unknown.
func (a OrdererAnswer) Counts() bool { return a.Consenter == nil || *a.Consenter }

// Consenters is how many of the orderers asked count (Counts): the
// endpoints of the cluster's consenters.
func (o OrdererAnswers) Consenters() int {
	n := 0
	for _, a := range o.Answers {
		if a.Counts() {
			n++
		}
	}
	return n
}

// tooFewOrderers is OrdererAnswers.Err's error when some orderers answer
// but fewer than the cluster needs; it is ErrNoOrderer to errors.Is.
type tooFewOrderers struct{ msg string }

func (e *tooFewOrderers) Error() string        { return e.msg }
func (e *tooFewOrderers) Is(target error) bool { return target == ErrNoOrderer }

// AskOrderers reads the orderers from the channel's newest configuration
// (each orderer organisation's Endpoints with its TLS roots, as the peers
// reach them) and asks each, at once, for the newest block, as a Ledger's
// WritesReady does (tdsc fabric orderers).
func AskOrderers(ctx context.Context, ch *Channel) (OrdererAnswers, error) {
	var o orderers
	defer o.close()
	ends, consensus, err := o.endpoints(ctx, ch)
	if err != nil {
		return OrdererAnswers{}, fmt.Errorf("fabric: reading the orderers from the channel's configuration: %w", err)
	}
	return askOrdererEnds(ctx, ch, ends, consensus, o.conn)
}

// askOrdererEnds asks each of ends, over the connection conn gives, for
// the newest block (deliverServed), at once: the answers in ends' order,
// with how many the channel needs (consensus.quorum); an error only if ctx
// ended or the request could not be signed. Of ends not marked by their
// address, the certificates they served mark the answers (markServed).
func askOrdererEnds(ctx context.Context, ch *Channel, ends []ordererEndpoint, consensus ordering, conn func(ordererEndpoint) (*grpc.ClientConn, error)) (OrdererAnswers, error) {
	env, err := ch.seekNewest()
	if err != nil {
		return OrdererAnswers{}, err
	}
	type answered struct {
		OrdererAnswer
		served []byte // its server TLS certificate (DER), if it answered
	}
	got, err := eachOrderer(ctx, ends, func(e ordererEndpoint) answered {
		a := answered{OrdererAnswer: OrdererAnswer{Org: e.org, Address: e.addr, Consenter: e.consenter}}
		c, err := conn(e)
		var b *common.Block
		if err == nil {
			b, a.served, err = deliverServed(ctx, c, env)
		}
		if err != nil {
			a.Error = firstLine(err.Error())
		} else {
			a.Height = b.GetHeader().GetNumber() + 1
		}
		return a
	})
	if err != nil {
		return OrdererAnswers{}, err
	}
	answers := make([]OrdererAnswer, len(got))
	served := make([][]byte, len(got))
	for i, a := range got {
		answers[i], served[i] = a.OrdererAnswer, a.served
	}
	markServed(ends, served, answers)
	o := OrdererAnswers{Consensus: consensus.typ, Answers: answers}
	o.Need = consensus.quorum(o.Consenters())
	return o, nil
}

// markServed marks the answers of ends whose role their address did not
// say (consenter nil, certs set) by the server TLS certificate each served
// (served[i], DER; nil if it did not answer): a consenter if it is one of
// certs. Only once one of them served a consenter's certificate: a
// cluster listener may serve another certificate than the orderer's
// endpoint, and then none does and every answer stays unknown (and
// counts).
func markServed(ends []ordererEndpoint, served [][]byte, answers []OrdererAnswer) {
	is := make([]bool, len(ends))
	found := false
	for i, e := range ends {
		if e.consenter == nil && served[i] != nil {
			is[i] = slices.ContainsFunc(e.certs, func(c []byte) bool { return bytes.Equal(c, served[i]) })
			found = found || is[i]
		}
	}
	if !found {
		return
	}
	for i, e := range ends {
		if e.consenter == nil && served[i] != nil {
			answers[i].Consenter = &is[i]
		}
	}
}

// eachOrderer asks each of ends at once (ask) and returns the answers in
// ends' order; an error only if ctx ended meanwhile.
func eachOrderer[T any](ctx context.Context, ends []ordererEndpoint, ask func(ordererEndpoint) T) ([]T, error) {
	out := atOnce(ends, ask)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("fabric: asking the orderers: %w", err)
	}
	return out, nil
}

// atOnce calls ask on each of items, all at once, and returns the answers
// in items' order.
func atOnce[E, T any](items []E, ask func(E) T) []T {
	out := make([]T, len(items))
	var wg sync.WaitGroup
	for i, e := range items {
		wg.Go(func() { out[i] = ask(e) })
	}
	wg.Wait()
	return out
}

// endpoints returns the orderers of the channel's newest configuration
// and its consensus, read again once ordererRefresh has passed.
func (o *orderers) endpoints(ctx context.Context, ch *Channel) ([]ordererEndpoint, ordering, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.ends != nil && time.Since(o.read) < ordererRefresh {
		return o.ends, o.consensus, nil
	}
	b, err := ch.lastConfigBlock(ctx)
	if err != nil {
		return nil, ordering{}, err
	}
	cfg, err := blockConfig(b)
	if err != nil {
		return nil, ordering{}, err
	}
	ends, err := channelOrderers(cfg)
	if err != nil {
		return nil, ordering{}, err
	}
	o.ends, o.consensus, o.read = ends, configOrdering(cfg), time.Now()
	// An orderer the configuration no longer names: its connection goes.
	for addr, c := range o.conns {
		if !slices.ContainsFunc(ends, func(e ordererEndpoint) bool { return e.addr == addr }) {
			c.Close()
			delete(o.conns, addr)
		}
	}
	return ends, o.consensus, nil
}

// stale has the next probe read the configuration again.
func (o *orderers) stale() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.ends = nil
}

// conn returns the connection to e, made on first use (gRPC connects
// lazily and reconnects on its own), and made again once the
// configuration gives e other TLS roots (its organisation's CA rotated).
func (o *orderers) conn(e ordererEndpoint) (*grpc.ClientConn, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if c, ok := o.conns[e.addr]; ok {
		if c.roots.Equal(e.roots) {
			return c.ClientConn, nil
		}
		c.Close()
		delete(o.conns, e.addr)
	}
	if o.closed {
		return nil, errors.New("fabric: the ledger is closed")
	}
	c, err := dialPool("orderer", e.addr, e.roots)
	if err != nil {
		return nil, err
	}
	if o.conns == nil {
		o.conns = map[string]ordererConn{}
	}
	o.conns[e.addr] = ordererConn{c, e.roots}
	return c, nil
}

// close closes the connections; a probe after it makes none.
func (o *orderers) close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, c := range o.conns {
		c.Close()
	}
	o.conns, o.closed = nil, true
}

// deliverBlock asks the orderer on conn for the block env seeks, for at
// most answerWithin (errNoAnswer past it, while ctx lasts): the block once
// it comes; the orderer's status otherwise.
func deliverBlock(ctx context.Context, conn *grpc.ClientConn, env *common.Envelope) (*common.Block, error) {
	b, _, err := deliverServed(ctx, conn, env)
	return b, err
}

// deliverServed is deliverBlock with the server TLS certificate the
// orderer served for the stream (DER; nil without TLS).
func deliverServed(ctx context.Context, conn *grpc.ClientConn, env *common.Envelope) (*common.Block, []byte, error) {
	var blk *common.Block
	var cert []byte
	err := answer(ctx, func(ctx context.Context) error {
		stream, err := deliver(ctx, conn, env)
		if err != nil {
			return err
		}
		resp, err := stream.Recv()
		if err != nil {
			return err
		}
		if p, ok := grpcpeer.FromContext(stream.Context()); ok {
			if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(ti.State.PeerCertificates) > 0 {
				cert = ti.State.PeerCertificates[0].Raw
			}
		}
		blk = resp.GetBlock()
		if blk == nil {
			return deliverRefused(resp.GetStatus())
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return blk, cert, nil
}

// deliverBlocks asks the orderer on conn for the blocks env seeks and
// gives each to fn in order, for at most tailWithin (while ctx lasts),
// until the orderer's SUCCESS; its other status is an error.
func deliverBlocks(ctx context.Context, conn *grpc.ClientConn, env *common.Envelope, fn func(*common.Block) error) error {
	ctx, cancel := context.WithTimeout(ctx, tailWithin)
	defer cancel()
	stream, err := deliver(ctx, conn, env)
	if err != nil {
		return err
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			return err
		}
		if b := resp.GetBlock(); b != nil {
			if err := fn(b); err != nil {
				return err
			}
			continue
		}
		if st := resp.GetStatus(); st != common.Status_SUCCESS {
			return deliverRefused(st)
		}
		return nil
	}
}

// deliver opens a Deliver stream to the orderer on conn and sends it env.
func deliver(ctx context.Context, conn *grpc.ClientConn, env *common.Envelope) (orderer.AtomicBroadcast_DeliverClient, error) {
	stream, err := orderer.NewAtomicBroadcastClient(conn).Deliver(ctx)
	if err != nil {
		return nil, err
	}
	return stream, stream.Send(env)
}

// tailWithin bounds the reading of an orderer's blocks past an audit.
const tailWithin = 30 * time.Second

// deliverRefused is why an orderer answered a Deliver request with
// status instead of a block. SERVICE_UNAVAILABLE is its consenter's
// error: a Raft node of a cluster of three or more answers it while it
// knows no leader (a majority of the cluster away, or an election under
// way), and orders nothing then.
func deliverRefused(status common.Status) error {
	switch status {
	case common.Status_SERVICE_UNAVAILABLE:
		return fmt.Errorf("it answered %s: its consensus has no leader it knows of (of Raft: a majority of the orderers away, or an election under way)", status)
	case common.Status_NOT_FOUND:
		return fmt.Errorf("it answered %s: it serves no blocks of the channel (not joined to it, or a follower: an orderer joining, or one removed from the consenters)", status)
	}
	return fmt.Errorf("it answered %s", status)
}

// seekNewest is a Deliver request for the channel's newest block, signed
// as the channel's client identity.
func (c *Channel) seekNewest() (*common.Envelope, error) {
	newest := &orderer.SeekPosition{Type: &orderer.SeekPosition_Newest{Newest: &orderer.SeekNewest{}}}
	return c.seek(newest, orderer.SeekInfo_BLOCK_UNTIL_READY)
}

// seekBlock is a Deliver request for block n, signed as the channel's
// client identity; an orderer that does not hold it answers NOT_FOUND.
func (c *Channel) seekBlock(n uint64) (*common.Envelope, error) {
	return c.seek(blockAt(n), orderer.SeekInfo_FAIL_IF_NOT_READY)
}

// blockAt is the seek position of block n.
func blockAt(n uint64) *orderer.SeekPosition {
	return &orderer.SeekPosition{Type: &orderer.SeekPosition_Specified{Specified: &orderer.SeekSpecified{Number: n}}}
}

// seekHeaders is a Deliver request for blocks from..to as headers with
// their signatures (a configuration block whole), signed as the channel's
// client identity; an orderer that does not hold them all answers
// NOT_FOUND after the ones it holds.
func (c *Channel) seekHeaders(from, to uint64) (*common.Envelope, error) {
	return c.seekInfo(&orderer.SeekInfo{Start: blockAt(from), Stop: blockAt(to), Behavior: orderer.SeekInfo_FAIL_IF_NOT_READY, ContentType: orderer.SeekInfo_HEADER_WITH_SIG})
}

// seek is a Deliver request for the block at pos, signed as the channel's
// client identity.
func (c *Channel) seek(pos *orderer.SeekPosition, behavior orderer.SeekInfo_SeekBehavior) (*common.Envelope, error) {
	return c.seekInfo(&orderer.SeekInfo{Start: pos, Stop: pos, Behavior: behavior})
}

// seekInfo is the Deliver request info, signed as the channel's client
// identity.
func (c *Channel) seekInfo(info *orderer.SeekInfo) (*common.Envelope, error) {
	creator, err := proto.Marshal(&msp.SerializedIdentity{Mspid: c.id.MspID(), IdBytes: c.id.Credentials()})
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, 24)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	chdr, err := proto.Marshal(&common.ChannelHeader{Type: int32(common.HeaderType_DELIVER_SEEK_INFO), ChannelId: c.name, Timestamp: timestamppb.Now()})
	if err != nil {
		return nil, err
	}
	shdr, err := proto.Marshal(&common.SignatureHeader{Creator: creator, Nonce: nonce})
	if err != nil {
		return nil, err
	}
	seek, err := proto.Marshal(info)
	if err != nil {
		return nil, err
	}
	payload, err := proto.Marshal(&common.Payload{Header: &common.Header{ChannelHeader: chdr, SignatureHeader: shdr}, Data: seek})
	if err != nil {
		return nil, err
	}
	digest := sha256.Sum256(payload)
	sig, err := c.sign(digest[:])
	if err != nil {
		return nil, fmt.Errorf("fabric: signing a Deliver request: %w", err)
	}
	return &common.Envelope{Payload: payload, Signature: sig}, nil
}
