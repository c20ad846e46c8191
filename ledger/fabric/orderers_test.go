package fabric

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	"github.com/hyperledger/fabric-protos-go-apiv2/orderer/etcdraft"
	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
)

// TestChannelOrderers: the orderers are read from each orderer
// organisation's Endpoints with that organisation's TLS roots, then the
// channel's global OrdererAddresses not named already (trusting every
// orderer organisation's roots), each marked a consenter or not by its
// address among the consenters' (unknown if none is); a configuration
// without an Orderer group or without an endpoint is an error.
func TestChannelOrderers(t *testing.T) {
	caA, caB := newTestCert(t, "tlsca.a", nil), newTestCert(t, "tlsca.b", nil)
	org := func(ca *testCA, addrs ...string) *common.ConfigGroup {
		g := &common.ConfigGroup{Values: map[string]*common.ConfigValue{
			"MSP": {Value: mustMarshal(t, &msp.MSPConfig{Config: mustMarshal(t, &msp.FabricMSPConfig{Name: ca.cert.Subject.CommonName, TlsRootCerts: [][]byte{ca.pem}})})},
		}}
		if addrs != nil {
			g.Values["Endpoints"] = &common.ConfigValue{Value: mustMarshal(t, &common.OrdererAddresses{Addresses: addrs})}
		}
		return g
	}
	cfg := &common.Config{ChannelGroup: &common.ConfigGroup{
		Groups: map[string]*common.ConfigGroup{"Orderer": {Groups: map[string]*common.ConfigGroup{
			"OrdererB": org(caB, "b1:7050"),
			"OrdererA": org(caA, "a1:7050", "a2:7050"),
		}}},
		Values: map[string]*common.ConfigValue{"OrdererAddresses": {Value: mustMarshal(t, &common.OrdererAddresses{Addresses: []string{"a1:7050", "old:7050"}})}},
	}}
	ends, err := channelOrderers(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ends {
		got = append(got, e.org+"@"+e.addr)
	}
	if strings.Join(got, " ") != "OrdererA@a1:7050 OrdererA@a2:7050 OrdererB@b1:7050 @old:7050" {
		t.Fatalf("orderers %v", got)
	}
	trusts := func(e ordererEndpoint, ca *testCA) bool {
		_, err := ca.cert.Verify(x509.VerifyOptions{Roots: e.roots})
		return err == nil
	}
	if !trusts(ends[0], caA) || trusts(ends[0], caB) || !trusts(ends[2], caB) || trusts(ends[2], caA) || !trusts(ends[3], caA) || !trusts(ends[3], caB) {
		t.Fatal("each organisation's endpoints trust its own TLS roots, the global addresses every organisation's")
	}

	for _, e := range ends {
		if e.consenter != nil {
			t.Fatalf("%s: a consenter %v of a configuration without consensus type", e.addr, *e.consenter)
		}
	}
	// Of a Raft cluster whose consenters are a1 and b1 (a2 named an
	// endpoint before a consenter: one joining), a2 and old are not
	// consenters; of a BFT cluster whose mapping names a2, a1 and b1 are
	// not; of consenters on addresses no endpoint has (a cluster listener
	// of their own), none is known.
	role := func(ends []ordererEndpoint) string {
		var out []string
		for _, e := range ends {
			out = append(out, e.addr+roleMark(e.consenter))
		}
		return strings.Join(out, " ")
	}
	tlsA1, tlsB1 := newTestCert(t, "a1", caA), newTestCert(t, "b1", caB)
	tlsOf := map[string][]byte{"a1": tlsA1.pem, "b1": tlsB1.pem}
	raftOf := func(addrs ...string) *common.ConfigValue {
		md := &etcdraft.ConfigMetadata{}
		for _, a := range addrs {
			host, port, _ := net.SplitHostPort(a)
			p, _ := strconv.Atoi(port)
			md.Consenters = append(md.Consenters, &etcdraft.Consenter{Host: host, Port: uint32(p), ServerTlsCert: tlsOf[host]})
		}
		return &common.ConfigValue{Value: mustMarshal(t, &orderer.ConsensusType{Type: "etcdraft", Metadata: mustMarshal(t, md)})}
	}
	og := cfg.ChannelGroup.Groups["Orderer"]
	og.Values = map[string]*common.ConfigValue{"ConsensusType": raftOf("a1:7050", "b1:7050")}
	if ends, err = channelOrderers(cfg); err != nil || role(ends) != "a1:7050+ a2:7050- b1:7050+ old:7050-" {
		t.Fatalf("Raft consenters a1, b1: %s (%v)", role(ends), err)
	}
	if slices.ContainsFunc(ends, func(e ordererEndpoint) bool { return e.certs != nil }) {
		t.Fatal("endpoints marked by their address given the consenters' certificates too")
	}
	if o := configOrdering(cfg); o != (ordering{typ: "etcdraft", consenters: 2}) {
		t.Fatalf("Raft ordering %+v", o)
	}
	og.Values = map[string]*common.ConfigValue{"ConsensusType": raftOf("a1:9443", "b1:9443")}
	if ends, err = channelOrderers(cfg); err != nil || role(ends) != "a1:7050? a2:7050? b1:7050? old:7050?" {
		t.Fatalf("Raft consenters on a cluster port: %s (%v)", role(ends), err)
	}
	// Their certificates say (markServed): each endpoint holds them.
	for _, e := range ends {
		if len(e.certs) != 2 || !bytes.Equal(e.certs[0], tlsA1.cert.Raw) || !bytes.Equal(e.certs[1], tlsB1.cert.Raw) {
			t.Fatalf("%s: the consenters' certificates %d, want a1's and b1's (DER)", e.addr, len(e.certs))
		}
	}
	og.Values = map[string]*common.ConfigValue{
		"ConsensusType": {Value: mustMarshal(t, &orderer.ConsensusType{Type: "BFT"})},
		"Orderers":      {Value: mustMarshal(t, &common.Orderers{ConsenterMapping: []*common.Consenter{{Id: 1, Host: "a2", Port: 7050}}})},
	}
	if ends, err = channelOrderers(cfg); err != nil || role(ends) != "a1:7050- a2:7050+ b1:7050- old:7050-" {
		t.Fatalf("a BFT consenter a2: %s (%v)", role(ends), err)
	}
	if o := configOrdering(cfg); o != (ordering{typ: "BFT", consenters: 1}) {
		t.Fatalf("BFT ordering %+v", o)
	}

	for _, bad := range []*common.Config{
		{ChannelGroup: &common.ConfigGroup{}},
		{ChannelGroup: &common.ConfigGroup{Groups: map[string]*common.ConfigGroup{"Orderer": {Groups: map[string]*common.ConfigGroup{"OrdererA": org(caA)}}}}},
	} {
		if _, err := channelOrderers(bad); err == nil {
			t.Fatalf("%v: no error", bad)
		}
	}
}

// TestOrdererAnswers: of a Raft cluster one orderer answering is enough;
// none, and the error names each and why. Of a BFT cluster a quorum must
// answer (of four, three; of seven, five), and the error says how many did.
func TestOrdererAnswers(t *testing.T) {
	down := OrdererAnswer{Address: "o1:7050", Error: "connection refused"}
	silent := OrdererAnswer{Address: "o2:7050", Error: errNoAnswer.Error()}
	up := func(a string) OrdererAnswer { return OrdererAnswer{Address: a, Height: 12} }
	raft := ordering{typ: "etcdraft", consenters: 3}
	if err := (OrdererAnswers{Consensus: raft.typ, Need: raft.quorum(3), Answers: []OrdererAnswer{down, silent, up("o3:7050")}}).Err(); err != nil {
		t.Fatalf("one answering: %v", err)
	}
	err := (OrdererAnswers{Consensus: raft.typ, Need: raft.quorum(2), Answers: []OrdererAnswer{down, silent}}).Err()
	if !errors.Is(err, ErrNoOrderer) || err.Error() != "no orderer of the channel answers (o1:7050: connection refused; o2:7050: it did not answer within 2s)" {
		t.Fatalf("none answering: %v", err)
	}
	bft := ordering{typ: "BFT", consenters: 4}
	if n := bft.quorum(4); n != 3 {
		t.Fatalf("quorum of four BFT consenters: %d", n)
	}
	for n, q := range map[int]int{1: 1, 3: 2, 4: 3, 5: 4, 6: 4, 7: 5, 10: 7} {
		if got := (ordering{typ: "BFT", consenters: n}).quorum(n); got != q {
			t.Errorf("quorum of %d BFT consenters: %d, want %d", n, got, q)
		}
	}
	if err := (OrdererAnswers{Consensus: "BFT", Need: 3, Answers: []OrdererAnswer{down, up("o2:7050"), up("o3:7050"), up("o4:7050")}}).Err(); err != nil {
		t.Fatalf("three of four BFT orderers answering: %v", err)
	}
	err = (OrdererAnswers{Consensus: "BFT", Need: 3, Answers: []OrdererAnswer{down, silent, up("o3:7050"), up("o4:7050")}}).Err()
	if !errors.Is(err, ErrNoOrderer) || err.Error() != "too few orderers of the channel answer: 2 of the BFT cluster's 4, its quorum is 3 (o1:7050: connection refused; o2:7050: it did not answer within 2s)" {
		t.Fatalf("two of four BFT orderers answering: %v", err)
	}
	// An orderer the configuration names but not as a consenter (one
	// joining) does not count, answering or not, nor among the cluster's.
	no, yes := false, true
	joining := OrdererAnswer{Address: "o5:7050", Height: 12, Consenter: &no}
	consenter := func(a OrdererAnswer) OrdererAnswer { a.Consenter = &yes; return a }
	five := OrdererAnswers{Consensus: "BFT", Need: 3, Answers: []OrdererAnswer{consenter(down), consenter(silent), consenter(up("o3:7050")), consenter(up("o4:7050")), joining}}
	if err := five.Err(); !errors.Is(err, ErrNoOrderer) || five.Consenters() != 4 || err.Error() != "too few orderers of the channel answer: 2 of the BFT cluster's 4, its quorum is 3 (o1:7050: connection refused; o2:7050: it did not answer within 2s)" {
		t.Fatalf("two of four BFT consenters and one joining answering: %v (consenters %d)", err, five.Consenters())
	}
	if err := (OrdererAnswers{Consensus: raft.typ, Need: 1, Answers: []OrdererAnswer{consenter(down), joining}}).Err(); !errors.Is(err, ErrNoOrderer) {
		t.Fatalf("of Raft, only one joining answering: %v", err)
	}
	// An orderer that answers but does not serve the channel (a follower,
	// one joining or removed) says so.
	if got := deliverRefused(common.Status_NOT_FOUND).Error(); got != "it answered NOT_FOUND: it serves no blocks of the channel (not joined to it, or a follower: an orderer joining, or one removed from the consenters)" {
		t.Fatalf("NOT_FOUND: %s", got)
	}
	if n := (ordering{typ: "BFT", consenters: 4}).quorum(2); n != 2 {
		t.Fatalf("a BFT configuration naming two endpoints of four consenters: need %d", n)
	}
}

// TestOrdererConns: a connection to an orderer is made once and kept
// while the configuration gives it the same TLS roots; other roots (its
// CA rotated) make a new one and close the old; none is made once closed.
func TestOrdererConns(t *testing.T) {
	caA, caB := newTestCert(t, "tlsca.a", nil), newTestCert(t, "tlsca.b", nil)
	pool := func(ca *testCA) *x509.CertPool {
		p := x509.NewCertPool()
		p.AppendCertsFromPEM(ca.pem)
		return p
	}
	var o orderers
	first, err := o.conn(ordererEndpoint{addr: "127.0.0.1:1", roots: pool(caA)})
	if err != nil {
		t.Fatal(err)
	}
	again, err := o.conn(ordererEndpoint{addr: "127.0.0.1:1", roots: pool(caA)})
	if err != nil || again != first {
		t.Fatalf("the same roots: a new connection (%v)", err)
	}
	rotated, err := o.conn(ordererEndpoint{addr: "127.0.0.1:1", roots: pool(caB)})
	if err != nil || rotated == first || first.GetState() != connectivity.Shutdown {
		t.Fatalf("other roots: kept the connection, or left the old one open (%v, %v)", err, first.GetState())
	}
	o.close()
	if rotated.GetState() != connectivity.Shutdown {
		t.Fatal("close left a connection open")
	}
	if _, err := o.conn(ordererEndpoint{addr: "127.0.0.1:2", roots: pool(caA)}); err == nil {
		t.Fatal("a connection made after close")
	}
}

// FuzzChannelOrderers reads the orderers and their roles from an Orderer
// group whose values (consensus type and its metadata, the BFT consenter
// mapping, two organisations' endpoints) are arbitrary bytes, as a
// configuration block from a peer is untrusted input. It must not panic;
// an endpoint read is marked a consenter exactly when its address is a
// consenter's, and marked at all only when one of them is; the ordering
// counts the consenters read.
func FuzzChannelOrderers(f *testing.F) {
	t := f
	ca := newTestCert(t, "tlsca", nil)
	a1 := newTestCert(t, "a1", ca).pem
	raft := mustMarshal(t, &orderer.ConsensusType{Type: "etcdraft", Metadata: mustMarshal(t, &etcdraft.ConfigMetadata{Consenters: []*etcdraft.Consenter{{Host: "a1", Port: 7050, ServerTlsCert: a1}, {Host: "b1", Port: 7050}}})})
	onCluster := mustMarshal(t, &orderer.ConsensusType{Type: "etcdraft", Metadata: mustMarshal(t, &etcdraft.ConfigMetadata{Consenters: []*etcdraft.Consenter{{Host: "a1", Port: 9443, ServerTlsCert: a1}}})})
	bft := mustMarshal(t, &orderer.ConsensusType{Type: "BFT"})
	mapping := mustMarshal(t, &common.Orderers{ConsenterMapping: []*common.Consenter{{Id: 1, Host: "a2", Port: 7050}}})
	endsA := mustMarshal(t, &common.OrdererAddresses{Addresses: []string{"a1:7050", "a2:7050"}})
	endsB := mustMarshal(t, &common.OrdererAddresses{Addresses: []string{"b1:7050"}})
	f.Add(raft, []byte(nil), endsA, endsB)
	f.Add(onCluster, []byte(nil), endsA, endsB)
	f.Add(bft, mapping, endsA, endsB)
	f.Add([]byte{0x0a, 0x03, 'B', 'F', 'T'}, []byte{0x0a, 0x00}, endsA, []byte{0xff})
	f.Fuzz(func(t *testing.T, consensus, orderers, a, b []byte) {
		values := map[string]*common.ConfigValue{"ConsensusType": {Value: consensus}, "Orderers": {Value: orderers}}
		org := func(ends []byte) *common.ConfigGroup {
			return &common.ConfigGroup{Values: map[string]*common.ConfigValue{"Endpoints": {Value: ends}}}
		}
		cfg := &common.Config{ChannelGroup: &common.ConfigGroup{Groups: map[string]*common.ConfigGroup{
			"Orderer": {Values: values, Groups: map[string]*common.ConfigGroup{"OrdererA": org(a), "OrdererB": org(b)}},
		}}}
		_, cs := configConsenters(cfg)
		var addrs []string
		var certs [][]byte
		if cs != nil {
			addrs = []string{}
		}
		for _, c := range cs {
			addrs = append(addrs, c.addr)
			if c.tlsCert != nil {
				certs = append(certs, c.tlsCert)
			}
		}
		o := configOrdering(cfg)
		if (addrs == nil) != (o.consenters == -1) || (addrs != nil && o.consenters != len(addrs)) {
			t.Fatalf("ordering %+v of consenters %v", o, addrs)
		}
		ends, err := channelOrderers(cfg)
		if err != nil {
			return
		}
		marked, some := 0, false
		for _, e := range ends {
			if e.consenter == nil {
				continue
			}
			marked++
			some = some || *e.consenter
			if *e.consenter != slices.Contains(addrs, e.addr) {
				t.Fatalf("%s marked a consenter %v; the consenters %v", e.addr, *e.consenter, addrs)
			}
		}
		if marked != 0 && (marked != len(ends) || !some) {
			t.Fatalf("%d of %d endpoints marked, one a consenter %v", marked, len(ends), some)
		}
		if marked == 0 && slices.ContainsFunc(ends, func(e ordererEndpoint) bool { return slices.Contains(addrs, e.addr) }) {
			t.Fatalf("no endpoint marked though one is a consenter's: %v", addrs)
		}
		for _, e := range ends {
			if want := certs; e.consenter != nil && e.certs != nil || e.consenter == nil && !slices.EqualFunc(e.certs, want, bytes.Equal) {
				t.Fatalf("%s: %d certificates to compare (marked %v), the consenters' %d", e.addr, len(e.certs), e.consenter != nil, len(want))
			}
		}
	})
}

// TestRaftBatchTimeout: a Raft channel's batch timeout is read from its
// configuration; a BFT channel's, an unreadable one's or a missing one's
// is 0 (the bound is not learned).
func TestRaftBatchTimeout(t *testing.T) {
	cfg := func(typ, timeout string) *common.Config { return orderingConfig(t, typ, timeout) }
	for _, c := range []struct {
		typ, timeout string
		want         time.Duration
	}{
		{"etcdraft", "10ms", 10 * time.Millisecond},
		{"etcdraft", "2s", 2 * time.Second},
		{"BFT", "10ms", 0},
		{"etcdraft", "", 0},
		{"etcdraft", "soon", 0},
		{"etcdraft", "-1s", 0},
		{"", "10ms", 0},
	} {
		if got := raftBatchTimeout(cfg(c.typ, c.timeout)); got != c.want {
			t.Errorf("%s %q: %v, want %v", c.typ, c.timeout, got, c.want)
		}
	}
	if got := raftBatchTimeout(&common.Config{}); got != 0 {
		t.Errorf("empty configuration: %v", got)
	}
}

// orderingConfig is a channel configuration of the consensus type typ and
// the batch timeout timeout (none if "").
func orderingConfig(t testing.TB, typ, timeout string) *common.Config {
	vals := map[string]*common.ConfigValue{"ConsensusType": {Value: mustMarshal(t, &orderer.ConsensusType{Type: typ})}}
	if timeout != "" {
		vals["BatchTimeout"] = &common.ConfigValue{Value: mustMarshal(t, &orderer.BatchTimeout{Timeout: timeout})}
	}
	return &common.Config{ChannelGroup: &common.ConfigGroup{Groups: map[string]*common.ConfigGroup{"Orderer": {Values: vals}}}}
}

// TestMarkServed: of endpoints their address did not mark, the answers
// are marked by the server TLS certificate each served — a consenter's or
// not — once one served a consenter's; one that did not answer stays
// unknown (and counts); where none served a consenter's (a cluster
// listener with a certificate of its own), every answer stays unknown.
// Endpoints marked by their address are left as they are.
func TestMarkServed(t *testing.T) {
	ca := newTestCert(t, "tlsca", nil)
	c1, c2, c3, joining := newTestCert(t, "o1", ca), newTestCert(t, "o2", ca), newTestCert(t, "o3", ca), newTestCert(t, "o4", ca)
	certs := [][]byte{c1.cert.Raw, c2.cert.Raw, c3.cert.Raw}
	ends := func() []ordererEndpoint {
		var out []ordererEndpoint
		for _, a := range []string{"o1:7050", "o2:7050", "o3:7050", "o4:7050"} {
			out = append(out, ordererEndpoint{addr: a, certs: certs})
		}
		return out
	}
	roles := func(answers []OrdererAnswer) string {
		var out strings.Builder
		for _, a := range answers {
			out.WriteString(roleMark(a.Consenter))
		}
		return out.String()
	}
	answers := make([]OrdererAnswer, 4)
	markServed(ends(), [][]byte{c1.cert.Raw, nil, c3.cert.Raw, joining.cert.Raw}, answers)
	if got := roles(answers); got != "+?+-" {
		t.Fatalf("served o1's, none (down), o3's and a joining orderer's: %s, want +?+-", got)
	}
	q := OrdererAnswers{Consensus: "BFT", Answers: answers}
	if q.Consenters() != 3 {
		t.Fatalf("consenters %d, want 3: the joining orderer does not count", q.Consenters())
	}
	answers = make([]OrdererAnswer, 4)
	other := newTestCert(t, "cluster", ca)
	markServed(ends(), [][]byte{other.cert.Raw, joining.cert.Raw, nil, other.cert.Raw}, answers)
	if got := roles(answers); got != "????" {
		t.Fatalf("none served a consenter's certificate: %s, want ????", got)
	}
	no := false
	byAddr := ends()
	byAddr[3].consenter, byAddr[3].certs = &no, nil
	answers = make([]OrdererAnswer, 4)
	answers[3].Consenter = &no
	markServed(byAddr, [][]byte{c1.cert.Raw, c2.cert.Raw, c3.cert.Raw, c1.cert.Raw}, answers)
	if got := roles(answers); got != "+++-" {
		t.Fatalf("one marked by its address: %s, want +++- (left as it was)", got)
	}
}

// TestDeliverServed: an orderer's answer to a Deliver request comes with
// the server TLS certificate it served (the one markServed compares), over
// TLS as the ledger dials orderers; a refusal is its status.
func TestDeliverServed(t *testing.T) {
	ca := newTestCert(t, "tlsca", nil)
	srv := newTestCertWith(t, "orderer", ca, func(c *x509.Certificate) {
		c.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
		c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refuse := false
	g := grpc.NewServer(grpc.Creds(credentials.NewServerTLSFromCert(&tls.Certificate{Certificate: [][]byte{srv.cert.Raw}, PrivateKey: srv.key})))
	orderer.RegisterAtomicBroadcastServer(g, &deliverer{block: &common.Block{Header: &common.BlockHeader{Number: 41}}, refuse: &refuse})
	go g.Serve(lis)
	t.Cleanup(g.Stop)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca.pem)
	conn, err := dialPool("orderer", lis.Addr().String(), roots)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	b, cert, err := deliverServed(context.Background(), conn, &common.Envelope{})
	if n := b.GetHeader().GetNumber(); err != nil || n != 41 || !bytes.Equal(cert, srv.cert.Raw) {
		t.Fatalf("block %d, served its own certificate %v (%v)", n, bytes.Equal(cert, srv.cert.Raw), err)
	}
	refuse = true
	if _, _, err := deliverServed(context.Background(), conn, &common.Envelope{}); err == nil || !strings.Contains(err.Error(), "NOT_FOUND") {
		t.Fatalf("a refusal: %v", err)
	}
}

// deliverer answers each Deliver request with block, or NOT_FOUND while
// *refuse.
type deliverer struct {
	orderer.UnimplementedAtomicBroadcastServer
	block  *common.Block
	refuse *bool
}

func (d *deliverer) Deliver(stream orderer.AtomicBroadcast_DeliverServer) error {
	if _, err := stream.Recv(); err != nil {
		return err
	}
	if *d.refuse {
		return stream.Send(&orderer.DeliverResponse{Type: &orderer.DeliverResponse_Status{Status: common.Status_NOT_FOUND}})
	}
	return stream.Send(&orderer.DeliverResponse{Type: &orderer.DeliverResponse_Block{Block: d.block}})
}

// roleMark is how the tests write an orderer's role: "+" a consenter, "-"
// not one, "?" unknown.
func roleMark(consenter *bool) string {
	switch {
	case consenter == nil:
		return "?"
	case *consenter:
		return "+"
	}
	return "-"
}
