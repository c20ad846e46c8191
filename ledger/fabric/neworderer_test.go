package fabric

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"github.com/hyperledger/fabric-protos-go-apiv2/orderer/etcdraft"
	"google.golang.org/protobuf/proto"
	"gopkg.in/yaml.v3"
)

// TestNewOrdererJoins grows the ordering service by an orderer it never
// had, while four writers write, as an operator adds one: its material
// made and its process started, a member of no channel
// (scripts/fabric.sh add-orderer; of a network whose orderers have an
// organisation each, of a new organisation, Orderer<k>MSP, whose CAs
// nothing on the network knew); a configuration update adds its
// organisation to the channel, built from its MSP directory as configtxgen
// builds one (or, of one orderer organisation, its endpoint to that
// organisation's); it joins the channel as a follower from the newest
// configuration block and catches up; an update names it a consenter (a
// BFT cluster's next ID, its signing identity, and BlockValidation the
// quorum of the larger set). The writes go on throughout; with other
// orderers stopped they need it (three of four Raft consenters, four of
// five BFT ones; run again, three of five Raft ones, four of six BFT
// ones); the ledger trusts its TLS from the channel's configuration, the
// audit counts it among the consenters (of BFT, the blocks signed under
// the quorum of the larger set), and its head agrees. No writer's batch
// fails. It leaves the network one orderer larger, so it runs only with
// TDSC_FABRIC_RECONFIGURE=1 on a cluster, after
// TestConsenterLeavesAndReturns (scripts/fabric-test.sh runs it last, of
// a Raft cluster; of BFT, SmartBFT's view changes around the new
// consenter stall the writes too long on two cores: by hand).
func TestNewOrdererJoins(t *testing.T) {
	m, s, n := startMembership(t, "adds a brand-new orderer to the ordering cluster by configuration updates",
		"a Raft cluster of three orderers or more, or a BFT cluster of four or more",
		func(typ string, n int) bool { return typ == "etcdraft" && n >= 3 || typ == "BFT" && n >= 4 })
	p, l, ch := m.p, m.l, m.ch
	ctx := context.Background()
	w := keepWriting(s, l, 4, "grows")
	m.progress(w, "before")

	out, err := scriptOutput(p, "add-orderer")
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		t.Fatalf("add-orderer: %v\n%s", err, ee.Stderr)
	} else if err != nil {
		t.Fatalf("add-orderer: %v", err)
	}
	var added struct {
		Orderer int    `json:"orderer"`
		Address string `json:"address"`
		MSPID   string `json:"mspid"`
		Org     string `json:"org"`
		Node    string `json:"node"`
	}
	if err := json.Unmarshal(out, &added); err != nil {
		t.Fatalf("add-orderer printed %q: %v", out, err)
	}
	k := strconv.Itoa(added.Orderer)
	t.Logf("orderer %s (%s, %s) started, a member of no channel", k, added.Address, added.MSPID)
	m.progress(w, "the orderer started")

	// Its organisation (or its endpoint) first: its orderer may not read
	// the channel before.
	cfg0 := lastConfigBlock(t, ctx, ch)
	var org string
	cfg1 := update(t, p, ch, cfg0, func(og *common.ConfigGroup) {
		org = addOrdererEndpoint(t, og, added.MSPID, added.Org, added.Address)
	})
	t.Logf("orderer organisation %s names %s, by configuration block %d", org, added.Address, cfg1.Header.Number)
	// Named an endpoint, not yet a consenter: asked, its answer does not
	// count, nor is it counted among the cluster's.
	a, err := AskOrderers(ctx, ch)
	if err != nil {
		t.Fatal(err)
	}
	if i := slices.IndexFunc(a.Answers, func(x OrdererAnswer) bool { return x.Address == added.Address }); i < 0 || a.Answers[i].Counts() || a.Consenters() != n || a.Err() != nil {
		t.Fatalf("the orderers with %s named an endpoint only: %+v (consenters %d, %v); want it not a consenter, %d that are", added.Address, a, a.Consenters(), a.Err(), n)
	}
	file := filepath.Join(t.TempDir(), "config.block")
	if err := os.WriteFile(file, mustMarshal(t, cfg1), 0o600); err != nil {
		t.Fatal(err)
	}
	script(t, p, "join-orderer", k, file)
	ordererCaughtUp(t, p, k, ch, "")
	m.progress(w, "the orderer following")
	cfg2 := update(t, p, ch, cfg1, func(og *common.ConfigGroup) { addConsenter(t, og, added.MSPID, added.Node, added.Address) })
	t.Logf("orderer %s a consenter by configuration block %d", k, cfg2.Header.Number)
	m.progress(w, "after the update")
	after := wholeCluster(t, ch, n+1, cfg2.Header.Number)
	t.Logf("all %d orderers answer, at heights %v", n+1, heightsOf(after))
	if after.Consenters() != n+1 {
		t.Fatalf("the orderers after the update: %+v; want every one a consenter", after)
	}
	want := ordering{typ: m.typ, consenters: n + 1}
	if after.Need != want.quorum(n+1) {
		t.Fatalf("%s of %d: need %d answers, want %d", m.typ, n+1, after.Need, want.quorum(n+1))
	}
	m.needed(w, k, n+1)
	m.finished(w, "the growth")
	wholeCluster(t, ch, n+1, 0) // the orderers started again have caught up
	if err := l.WritesReady(ctx); err != nil {
		t.Fatalf("after the growth: WritesReady %v", err)
	}
	if ends, o, err := l.orderers.endpoints(ctx, l.ch); err != nil || len(ends) != n+1 || o != want {
		t.Fatalf("the ledger's orderers after the growth: %d, %v (%v); want %d, %v", len(ends), o, err, n+1, want)
	}
	heads := auditAcross(t, l, m.written, want, 2)
	if len(heads) != n+1 || !slices.ContainsFunc(heads, func(h OrdererHead) bool { return h.Address == added.Address && h.Agrees }) {
		t.Fatalf("the orderers' heads after the growth: %+v; want %d, %s agreeing", heads, n+1, added.Address)
	}
}

// addOrdererEndpoint adds the orderer at addr to og, an Orderer group: to
// the endpoints of its organisation mspID if og has it, else with that
// organisation, built from its MSP material under orgDir. It returns the
// organisation's group name.
func addOrdererEndpoint(t *testing.T, og *common.ConfigGroup, mspID, orgDir, addr string) string {
	t.Helper()
	if name := ordererGroupName(t, og, mspID); name != "" {
		g := og.Groups[name]
		ends := endpoints(t, g)
		ends.Addresses = append(ends.Addresses, addr)
		g.Values["Endpoints"].Value = mustMarshal(t, ends)
		return name
	}
	name := strings.TrimSuffix(mspID, "MSP") + "Org" // as scripts/fabric.sh names them
	og.Groups[name] = ordererOrgGroup(t, mspID, orgDir, []string{addr})
	return name
}

// addConsenter adds the orderer at addr, whose material is under nodeDir,
// to og's consenters: of Raft, its endpoint and TLS certificate; of BFT,
// the next ID with its MSP, signing identity and TLS certificate (and
// BlockValidation the quorum of the larger set).
func addConsenter(t *testing.T, og *common.ConfigGroup, mspID, nodeDir, addr string) {
	t.Helper()
	at := consenterAt(t, addr)
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(portText)
	tlsCert := readFile(t, filepath.Join(nodeDir, "tls", "server.crt"))
	editConsenters(t, og,
		func(cs []*etcdraft.Consenter) []*etcdraft.Consenter {
			if slices.ContainsFunc(cs, func(c *etcdraft.Consenter) bool { return at(c.Host, c.Port) }) {
				t.Fatalf("%s is a Raft consenter already", addr)
			}
			return append(cs, &etcdraft.Consenter{Host: host, Port: uint32(port), ClientTlsCert: tlsCert, ServerTlsCert: tlsCert})
		},
		func(cs []*common.Consenter) []*common.Consenter {
			var id uint32
			for _, c := range cs {
				if at(c.Host, c.Port) {
					t.Fatalf("%s is a BFT consenter already (ID %d)", addr, c.Id)
				}
				id = max(id, c.Id)
			}
			signcert := onlyFile(t, filepath.Join(nodeDir, "msp", "signcerts"))
			return append(cs, &common.Consenter{Id: id + 1, Host: host, Port: uint32(port), MspId: mspID, Identity: signcert, ClientTlsCert: tlsCert, ServerTlsCert: tlsCert})
		})
}

// ordererOrgGroup is an orderer organisation's group as configtxgen
// builds it of scripts/fabric.sh's configtx.yaml: its MSP read from
// orgDir/msp (CA and TLS CA certificates, the node OUs of its config.yaml,
// SHA2 signatures), its Readers and Writers any member, its Admins an
// admin, its endpoints; everything modified by its Admins.
func ordererOrgGroup(t *testing.T, mspID, orgDir string, addrs []string) *common.ConfigGroup {
	t.Helper()
	dir := filepath.Join(orgDir, "msp")
	fc := &msp.FabricMSPConfig{
		Name:         mspID,
		RootCerts:    [][]byte{onlyFile(t, filepath.Join(dir, "cacerts"))},
		TlsRootCerts: [][]byte{onlyFile(t, filepath.Join(dir, "tlscacerts"))},
		CryptoConfig: &msp.FabricCryptoConfig{SignatureHashFamily: "SHA2", IdentityIdentifierHashFunction: "SHA256"},
	}
	var ous struct {
		NodeOUs struct {
			Enable bool `yaml:"Enable"`
			Client ou   `yaml:"ClientOUIdentifier"`
			Peer   ou   `yaml:"PeerOUIdentifier"`
			Admin  ou   `yaml:"AdminOUIdentifier"`
			Orderr ou   `yaml:"OrdererOUIdentifier"`
		} `yaml:"NodeOUs"`
	}
	if err := yaml.Unmarshal(readFile(t, filepath.Join(dir, "config.yaml")), &ous); err != nil {
		t.Fatalf("%s: %v", filepath.Join(dir, "config.yaml"), err)
	}
	if o := ous.NodeOUs; o.Enable {
		fc.FabricNodeOus = &msp.FabricNodeOUs{
			Enable:             true,
			ClientOuIdentifier: o.Client.identifier(t, dir), PeerOuIdentifier: o.Peer.identifier(t, dir),
			AdminOuIdentifier: o.Admin.identifier(t, dir), OrdererOuIdentifier: o.Orderr.identifier(t, dir),
		}
	}
	sig := func(role msp.MSPRole_MSPRoleType) *common.ConfigPolicy {
		env := &common.SignaturePolicyEnvelope{
			Rule: &common.SignaturePolicy{Type: &common.SignaturePolicy_NOutOf_{NOutOf: &common.SignaturePolicy_NOutOf{
				N: 1, Rules: []*common.SignaturePolicy{{Type: &common.SignaturePolicy_SignedBy{SignedBy: 0}}},
			}}},
			Identities: []*msp.MSPPrincipal{{
				PrincipalClassification: msp.MSPPrincipal_ROLE,
				Principal:               mustMarshal(t, &msp.MSPRole{MspIdentifier: mspID, Role: role}),
			}},
		}
		return &common.ConfigPolicy{ModPolicy: "Admins", Policy: &common.Policy{Type: int32(common.Policy_SIGNATURE), Value: mustMarshal(t, env)}}
	}
	return &common.ConfigGroup{
		ModPolicy: "Admins",
		Groups:    map[string]*common.ConfigGroup{},
		Values: map[string]*common.ConfigValue{
			"MSP":       {ModPolicy: "Admins", Value: mustMarshal(t, &msp.MSPConfig{Type: 0, Config: mustMarshal(t, fc)})},
			"Endpoints": {ModPolicy: "Admins", Value: mustMarshal(t, &common.OrdererAddresses{Addresses: addrs})},
		},
		Policies: map[string]*common.ConfigPolicy{
			"Readers": sig(msp.MSPRole_MEMBER),
			"Writers": sig(msp.MSPRole_MEMBER),
			"Admins":  sig(msp.MSPRole_ADMIN),
		},
	}
}

// ou is a node OU of an MSP's config.yaml: its CA certificate's file
// (relative to the MSP directory) and its name.
type ou struct {
	Certificate string `yaml:"Certificate"`
	Name        string `yaml:"OrganizationalUnitIdentifier"`
}

func (o ou) identifier(t *testing.T, mspDir string) *msp.FabricOUIdentifier {
	t.Helper()
	id := &msp.FabricOUIdentifier{OrganizationalUnitIdentifier: o.Name}
	if o.Certificate != "" {
		id.Certificate = readFile(t, filepath.Join(mspDir, o.Certificate))
	}
	return id
}

// groupMSPID is the MSP ID of an organisation's group.
func groupMSPID(t *testing.T, g *common.ConfigGroup) string {
	t.Helper()
	var mc msp.MSPConfig
	var fc msp.FabricMSPConfig
	mustUnmarshal(t, g.Values["MSP"].Value, &mc)
	mustUnmarshal(t, mc.Config, &fc)
	return fc.Name
}

// onlyFile is the content of the one file in dir.
func onlyFile(t *testing.T, dir string) []byte {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil || len(es) != 1 {
		t.Fatalf("%s: want one file, have %d (%v)", dir, len(es), err)
	}
	return readFile(t, filepath.Join(dir, es[0].Name()))
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestOrdererOrgGroupAsConfigtxgen builds each orderer organisation of the
// running network from its MSP directory and wants the group configtxgen
// wrote into the channel's configuration (versions aside): what
// TestNewOrdererJoins adds for a brand-new organisation is what Fabric's
// own tool would.
func TestOrdererOrgGroupAsConfigtxgen(t *testing.T) {
	p := network(t)
	ch := mustChannel(t, p, 0)
	cfg, err := blockConfig(lastConfigBlock(t, context.Background(), ch))
	if err != nil {
		t.Fatal(err)
	}
	og := cfg.ChannelGroup.Groups["Orderer"]
	if len(og.Groups) == 0 {
		t.Fatal("the channel's configuration has no orderer organisation")
	}
	for name, g := range og.Groups {
		id := groupMSPID(t, g)
		built := ordererOrgGroup(t, id, ordererOrgDir(p, id), endpoints(t, g).Addresses)
		if !proto.Equal(newElements(g), built) {
			t.Errorf("orderer organisation %s (%s): built %v\nwant %v", name, id, built, newElements(g))
			continue
		}
		t.Logf("orderer organisation %s (%s) built from its MSP directory as the channel has it", name, id)
	}
}
