package fabric

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/msp"
)

// TestOrdererCARotation rotates an orderer organisation's CAs — the one
// that issues its signing identities and the one that issues its TLS
// certificates — while four writers write, as an operator does before a
// CA expires or after one is compromised: update 1 adds a new root CA and
// a new TLS root CA to the organisation's MSP (its node OUs unbound from
// the first CA, as TestCARotation does for a peer organisation); every
// peer restarts (its gateway's orderer connections keep the TLS roots
// they were dialled with); update 2 names a TLS certificate of the new
// TLS CA for one of its orderers' consenter; that orderer restarts on it
// and on a signing identity of the new CA; each other orderer of the
// organisation is renewed the same way (an update and a restart each);
// last, its admin takes an identity of the new CA and an update it signs
// removes the old CAs. The other orderers and the ledger's probe trust it
// from the channel's configuration; it serves the new certificate, is a
// consenter again and the writes need it; the blocks it writes from then
// on carry the new identity's signature, which the genesis configuration
// refuses and the updated one takes; the audit reads across the updates
// and every orderer's copy of its last block is signed as the audited
// configuration demands. Of a BFT cluster the consenter mapping names
// each consenter's signing identity too: update 2 names the new identity
// beside the new TLS certificate (and BlockValidation the quorum of the
// identities named), and the orderer's signature counts among a block's
// by its identifier, under the mapping in force. On a Raft cluster of
// three or more, or a BFT cluster of four or more
// (TDSC_FABRIC_RECONFIGURE=1): Fabric does not rotate a lone Raft
// consenter's TLS certificate in place (its leader hands over before it
// takes the update, and a cluster of one has no one to hand over to:
// "No follower is qualified as transferee", the update never ordered).
func TestOrdererCARotation(t *testing.T) {
	m, s, n := startMembership(t, "rotates an orderer organisation's CAs and restarts an orderer on an identity and a TLS certificate of the new ones",
		"a Raft cluster of three orderers or more, or a BFT cluster of four or more",
		func(typ string, n int) bool { return typ == "etcdraft" && n >= 3 || typ == "BFT" && n >= 4 })
	bft := m.typ == "BFT"
	p, l, ch := m.p, m.l, m.ch
	ctx := context.Background()
	w := keepWriting(s, l, 4, "rotates")
	m.progress(w, "before")
	k := lastNotLeading(n, clusterLeader(t, p))
	addr := ordererAddress(t, p, k)
	cfg0 := lastConfigBlock(t, ctx, ch)
	node := ordererNodeDir(t, p, cfg0, k, addr)
	mspID, domain := ordererOrgOf(t, cfg0, addr)
	root2, tlsRoot2 := newRootCA(t, "ca2."+domain, domain), newRootCA(t, "tlsca2."+domain, domain)
	was := pemCerts(onlyFile(t, filepath.Join(node, "msp", "signcerts")))[0]
	id2 := reissue(t, was, root2)
	tls2 := issueTLS(t, node, tlsRoot2)
	// A batch after cfg0 and before the first update: a block every
	// orderer signs with its identity of the old CA.
	m.progress(w, "before the new roots")

	// The organisation's group in an Orderer group.
	org := func(og *common.ConfigGroup) *common.ConfigGroup {
		name := ordererGroupName(t, og, mspID)
		if name == "" {
			t.Fatalf("no orderer organisation %s", mspID)
		}
		return og.Groups[name]
	}
	cfg1 := update(t, p, ch, cfg0, func(og *common.ConfigGroup) {
		v := org(og).Values["MSP"]
		v.Value = addRoots(t, v.Value, root2.pem, tlsRoot2.pem)
	})
	t.Logf("%s: a new root CA and TLS root CA added by configuration block %d", mspID, cfg1.Header.Number)
	m.progress(w, "after the new roots")
	// Every peer restarts, one at a time: Fabric's gateway keeps its
	// connection to each orderer by address (its registry's broadcast
	// clients, closed only when an address goes), dialled with the TLS
	// roots of then, and would refuse an orderer's certificate of the new
	// TLS CA — once every orderer of the organisation serves one, no
	// transaction could be submitted (the writes stood). Started again,
	// each dials with both.
	for o := range p.Orgs {
		script(t, p, "stop-peer", strconv.Itoa(o+1))
		script(t, p, "start-peer", strconv.Itoa(o+1))
		m.progress(w, fmt.Sprintf("the peer of org %d restarted on the new roots", o+1))
	}
	// What an update names for a renewed orderer's consenter: its TLS
	// certificate, of BFT its signing identity too.
	creds := func(id *testCA, cert renewedTLS) consenterCreds {
		if bft {
			return consenterCreds{cert: cert.cert, identity: id.pem}
		}
		return consenterCreds{cert: cert.cert}
	}
	// Of BFT, every other orderer restarts too, one at a time: Fabric's
	// BFT cluster keeps its connection to each consenter (cluster.Stub,
	// ConnectionsMgr), dialled with the TLS roots of the configuration
	// then — before update 1, the old TLS CA alone — and would refuse the
	// orderer's certificate of the new TLS CA until it restarted. Started
	// again, each dials with both.
	if bft {
		for j := 1; j <= n; j++ {
			if c := strconv.Itoa(j); c != k {
				script(t, p, "stop-orderer", c)
				script(t, p, "start-orderer", c)
				ordererCaughtUp(t, p, c, ch, "consenter")
				m.progress(w, "orderer "+c+" restarted on the new roots")
			}
		}
	}
	cfg2 := update(t, p, ch, cfg1, consenterNamed(t, addr, creds(id2, tls2)))
	t.Logf("orderer %s (%s): a TLS certificate of the new TLS CA named for its consenter by configuration block %d (of BFT, an identity of the new CA too: %v)", k, addr, cfg2.Header.Number, bft)
	m.progress(w, "after the consenter's new certificate")

	// The orderer restarts on an identity of the new CA and the new TLS
	// certificate.
	restartRenewed(t, p, ch, k, node, root2, id2, tlsRoot2, tls2)
	m.progress(w, "the orderer restarted on the new identity and certificate")
	if got := servedCert(t, addr, tlsRoot2.pem); !bytes.Equal(got, tls2.der) {
		t.Fatalf("orderer %s serves another certificate than the new TLS CA's", k)
	}
	m.needed(w, k, n)

	// Where the organisation has other orderers, each is renewed the same
	// way: an update naming a TLS certificate of the new TLS CA for its
	// consenter (of BFT, its identity of the new CA too), then a restart
	// on them. Last, its admin takes an identity of the new CA, and an
	// update it signs removes the old CAs.
	last, updates := cfg2, 2
	for j := 1; j <= n; j++ {
		c := strconv.Itoa(j)
		a := ordererAddress(t, p, c)
		if id, _ := ordererOrgOf(t, last, a); c == k || id != mspID {
			continue
		}
		nodeJ := ordererNodeDir(t, p, last, c, a)
		idJ := reissue(t, pemCerts(onlyFile(t, filepath.Join(nodeJ, "msp", "signcerts")))[0], root2)
		tlsJ := issueTLS(t, nodeJ, tlsRoot2)
		last = update(t, p, ch, last, consenterNamed(t, a, creds(idJ, tlsJ)))
		updates++
		restartRenewed(t, p, ch, c, nodeJ, root2, idJ, tlsRoot2, tlsJ)
		m.progress(w, fmt.Sprintf("orderer %s of %s renewed by configuration block %d and restarted", c, mspID, last.Header.Number))
	}
	adminMSP := filepath.Join(ordererOrgDir(p, mspID), "users", "Admin@"+domain, "msp")
	admin2 := reissue(t, pemCerts(onlyFile(t, filepath.Join(adminMSP, "signcerts")))[0], root2)
	installPeerIdentity(t, adminMSP, root2, admin2)
	last = update(t, p, ch, last, func(og *common.ConfigGroup) {
		v := org(og).Values["MSP"]
		v.Value = editMSP(t, v.Value, func(fc *msp.FabricMSPConfig) {
			fc.RootCerts, fc.TlsRootCerts = [][]byte{root2.pem}, [][]byte{tlsRoot2.pem}
		})
	})
	updates++
	t.Logf("%s: the old root CA and TLS root CA removed by configuration block %d", mspID, last.Header.Number)
	m.progressBy(w, "after the old roots removed", 5)
	m.finished(w, "the rotation")
	wholeCluster(t, ch, n, 0)

	// Each orderer signs the blocks it writes (of Raft its copy carries
	// its signature alone; of BFT a quorum's, its own among them). The
	// orderer's copy of the newest block carries the new identity's
	// signature: refused under the genesis configuration, taken under the
	// last.
	h, err := ch.Height(ctx)
	if err != nil {
		t.Fatal(err)
	}
	newest := ordererBlock(t, ch, addr, tlsRoot2, h-1)
	old := ordererBlock(t, ch, addr, tlsRoot2, cfg0.Header.Number+1)
	// counts says whether b, checked under cfg's configuration, is
	// signed as it demands with want's signature among those that count;
	// of Raft (one signature a copy) an error if b is not signed as
	// demanded, naming why.
	counts := func(b *common.Block, cfg *common.Block, want *x509.Certificate) (bool, error) {
		e, err := genesisEndorsers(cfg)
		if err != nil {
			t.Fatal(err)
		}
		_, signers, err := e.checkBlock(b)
		if err == nil && !bft && len(signers) != 1 {
			t.Fatalf("orderer %s's block %d: signed by %d identities, want one", k, b.Header.Number, len(signers))
		}
		has := slices.ContainsFunc(signers, func(s signer) bool { return bytes.Equal(s.cert.RawTBSCertificate, want.RawTBSCertificate) })
		return err == nil && has, err
	}
	// refused wants want's signature not to count on b under cfg: of
	// Raft the block refused, its signer's CA unknown; of BFT its
	// signature does not verify against the identity cfg's mapping names
	// for its identifier (the others' may make the quorum).
	refused := func(b, cfg *common.Block, want *x509.Certificate, under string) {
		t.Helper()
		ok, err := counts(b, cfg, want)
		if ok || !bft && (err == nil || !strings.Contains(err.Error(), "not issued by the org's CA")) {
			t.Fatalf("orderer %s's block %d under %s: counted %v (%v), want its signature refused", k, b.Header.Number, under, ok, err)
		}
	}
	taken := func(b, cfg *common.Block, want *x509.Certificate) {
		t.Helper()
		if ok, err := counts(b, cfg, want); !ok {
			t.Fatalf("orderer %s's block %d under the configuration of block %d: its signature by %q not counted (%v)", k, b.Header.Number, cfg.Header.Number, want.Subject.CommonName, err)
		}
	}
	genesis, err := ch.Block(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	refused(newest, genesis, id2.cert, "the genesis configuration")
	taken(newest, last, id2.cert)
	// Its copy of a block before the rotation, signed by its identity of
	// the old CA: taken under the configuration then in force, and refused
	// under the last, without the old CA (of BFT, the mapping naming the
	// new identity) — the audit judges each block by the configuration
	// before it.
	taken(old, cfg0, was)
	refused(old, last, was, "the last configuration")
	heads := auditAcross(t, l, m.written, ordering{typ: m.typ, consenters: n}, updates)
	if len(heads) != n || !slices.ContainsFunc(heads, func(h OrdererHead) bool { return h.Address == addr && h.Agrees }) {
		t.Fatalf("the orderers' heads after the rotation: %+v; want %d, %s agreeing", heads, n, addr)
	}
}

// restartRenewed has orderer k, whose material is under node, take
// identity id of CA root and TLS certificate cert of TLS CA tlsRoot: its
// local MSP (read at its start), then a restart on the new TLS key and
// certificate, its TLS CA file — which its admin's client, osnadmin,
// trusts — holding both TLS CAs.
func restartRenewed(t *testing.T, p *Profile, ch *Channel, k, node string, root, id, tlsRoot *testCA, cert renewedTLS) {
	t.Helper()
	installPeerIdentity(t, filepath.Join(node, "msp"), root, id)
	restartOrderer(t, p, ch, k, node, map[string][]byte{"server.crt": cert.cert, "server.key": cert.key,
		"ca.crt": append(readFile(t, filepath.Join(node, "tls", "ca.crt")), tlsRoot.pem...)})
}

// ordererBlock is block number of the orderer at addr, whose TLS
// certificate ca issued, asked as ch's client.
func ordererBlock(t *testing.T, ch *Channel, addr string, ca *testCA, number uint64) *common.Block {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	conn, err := dialPool("orderer", addr, roots)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	env, err := ch.seekBlock(number)
	if err != nil {
		t.Fatal(err)
	}
	b, err := deliverBlock(context.Background(), conn, env)
	if err != nil {
		t.Fatalf("block %d from orderer %s: %v", number, addr, err)
	}
	return b
}

// newRootCA is a self-signed CA of organisation domain, valid for a year.
func newRootCA(t *testing.T, cn, domain string) *testCA {
	t.Helper()
	return newTestCertWith(t, cn, nil, func(c *x509.Certificate) {
		c.Subject.Organization = []string{domain}
		c.NotBefore, c.NotAfter = time.Now().Add(-2*time.Hour), time.Now().AddDate(1, 0, 0)
	})
}

// reissue is a certificate with was's subject (its node OU too), issued
// by ca, valid for a year.
func reissue(t *testing.T, was *x509.Certificate, ca *testCA) *testCA {
	t.Helper()
	return newTestCertWith(t, was.Subject.CommonName, ca, func(c *x509.Certificate) {
		c.Subject = was.Subject
		c.BasicConstraintsValid = true
		c.NotAfter = time.Now().AddDate(1, 0, 0)
	})
}

// ordererGroupName is the name of orderer organisation mspID's group in
// og, an Orderer group; "" if og has none.
func ordererGroupName(t *testing.T, og *common.ConfigGroup, mspID string) string {
	t.Helper()
	for name, g := range og.Groups {
		if groupMSPID(t, g) == mspID {
			return name
		}
	}
	return ""
}
