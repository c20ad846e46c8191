package fabric

import (
	"bytes"
	"context"
	"crypto/x509"
	"path/filepath"
	"slices"
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
// the first CA, as TestCARotation does for a peer organisation); update 2
// names a TLS certificate of the new TLS CA for one of its orderers'
// consenter; that orderer restarts on it and on a signing identity of the
// new CA. The peers, the other orderers and the ledger's probe trust it
// from the channel's configuration; it serves the new certificate, is a
// consenter again and the writes need it; the blocks it writes from then
// on carry the new identity's signature, which the genesis configuration
// refuses and the updated one takes; the audit reads across both updates
// and every orderer's copy of its last block is signed as the audited
// configuration demands. On a Raft cluster of three or more
// (TDSC_FABRIC_RECONFIGURE=1): Fabric does not rotate a lone Raft
// consenter's TLS certificate in place (its leader hands over before it
// takes the update, and a cluster of one has no one to hand over to:
// "No follower is qualified as transferee", the update never ordered).
func TestOrdererCARotation(t *testing.T) {
	m, s, n := startMembership(t, "rotates an orderer organisation's CAs and restarts an orderer on an identity and a TLS certificate of the new ones",
		"a Raft cluster of three orderers or more", func(typ string, n int) bool { return typ == "etcdraft" && n >= 3 })
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
	cfg2 := nameConsenterTLS(t, p, ch, cfg1, addr, tls2.cert)
	t.Logf("orderer %s (%s): a TLS certificate of the new TLS CA named for its consenter by configuration block %d", k, addr, cfg2.Header.Number)
	m.progress(w, "after the consenter's new certificate")

	// The orderer restarts on an identity of the new CA (read at its
	// start) and the new TLS certificate and key; its TLS CA file, which
	// its admin's client (osnadmin) trusts, holds both TLS CAs.
	installPeerIdentity(t, filepath.Join(node, "msp"), root2, id2)
	restartOrderer(t, p, ch, k, node, map[string][]byte{"server.crt": tls2.cert, "server.key": tls2.key,
		"ca.crt": append(readFile(t, filepath.Join(node, "tls", "ca.crt")), tlsRoot2.pem...)})
	m.progress(w, "the orderer restarted on the new identity and certificate")
	if got := servedCert(t, addr, tlsRoot2.pem); !bytes.Equal(got, tls2.der) {
		t.Fatalf("orderer %s serves another certificate than the new TLS CA's", k)
	}
	m.needed(w, k, n)

	// Last, where the organisation has no other orderer: its admin takes
	// an identity of the new CA, and update 3, which it signs, removes the
	// old CAs. (An organisation of several orderers renews each first.)
	last, updates := cfg2, 2
	c2, err := blockConfig(cfg2)
	if err != nil {
		t.Fatal(err)
	}
	if len(endpoints(t, org(c2.ChannelGroup.Groups["Orderer"])).Addresses) == 1 {
		adminMSP := filepath.Join(ordererOrgDir(p, mspID), "users", "Admin@"+domain, "msp")
		admin2 := reissue(t, pemCerts(onlyFile(t, filepath.Join(adminMSP, "signcerts")))[0], root2)
		installPeerIdentity(t, adminMSP, root2, admin2)
		last = update(t, p, ch, cfg2, func(og *common.ConfigGroup) {
			v := org(og).Values["MSP"]
			v.Value = editMSP(t, v.Value, func(fc *msp.FabricMSPConfig) {
				fc.RootCerts, fc.TlsRootCerts = [][]byte{root2.pem}, [][]byte{tlsRoot2.pem}
			})
		})
		updates++
		t.Logf("%s: the old root CA and TLS root CA removed by configuration block %d", mspID, last.Header.Number)
		m.progressBy(w, "after the old roots removed", 5)
	} else {
		t.Logf("%s has other orderers: the old roots stay", mspID)
	}
	m.finished(w, "the rotation")
	wholeCluster(t, ch, n, 0)

	// Each orderer signs the blocks it writes. The orderer's copy of the
	// newest block carries the new identity's signature: refused under
	// the genesis configuration, taken under the last.
	h, err := ch.Height(ctx)
	if err != nil {
		t.Fatal(err)
	}
	newest := ordererBlock(t, ch, addr, tlsRoot2, h-1)
	old := ordererBlock(t, ch, addr, tlsRoot2, cfg0.Header.Number+1)
	signedBy := func(b *common.Block, cfg *common.Block, want *x509.Certificate) error {
		e, err := genesisEndorsers(cfg)
		if err != nil {
			t.Fatal(err)
		}
		_, signers, err := e.checkBlock(b)
		if err == nil && (len(signers) != 1 || !bytes.Equal(signers[0].cert.RawTBSCertificate, want.RawTBSCertificate)) {
			t.Fatalf("orderer %s's block %d: signed by %d identities, want %q of its CA", k, b.Header.Number, len(signers), want.Subject.CommonName)
		}
		return err
	}
	genesis, err := ch.Block(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := signedBy(newest, genesis, id2.cert); err == nil || !strings.Contains(err.Error(), "not issued by the org's CA") {
		t.Fatalf("orderer %s's block %d under the genesis configuration: got %v, want its signature refused", k, h-1, err)
	}
	if err := signedBy(newest, last, id2.cert); err != nil {
		t.Fatalf("orderer %s's block %d under the configuration of block %d: %v", k, h-1, last.Header.Number, err)
	}
	// Its copy of a block before the rotation, signed by its identity of
	// the old CA: taken under the configuration then in force, and, once
	// the old CA is removed, refused under the last — the audit judges
	// each block by the configuration before it.
	if err := signedBy(old, cfg0, was); err != nil {
		t.Fatalf("orderer %s's block %d under the configuration of block %d: %v", k, old.Header.Number, cfg0.Header.Number, err)
	}
	if updates == 3 {
		if err := signedBy(old, last, was); err == nil || !strings.Contains(err.Error(), "not issued by the org's CA") {
			t.Fatalf("orderer %s's block %d under the configuration without the old CA: got %v, want its signature refused", k, old.Header.Number, err)
		}
	}
	heads := auditAcross(t, l, m.written, ordering{typ: m.typ, consenters: n}, updates)
	if len(heads) != n || !slices.ContainsFunc(heads, func(h OrdererHead) bool { return h.Address == addr && h.Agrees }) {
		t.Fatalf("the orderers' heads after the rotation: %+v; want %d, %s agreeing", heads, n, addr)
	}
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
