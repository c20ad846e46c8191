package fabric

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/orderer/etcdraft"
)

// TestConsenterTLSRenewed renews one consenter's TLS certificate in place,
// as an operator does before it expires, while four writers write: a new
// key and certificate from its organisation's TLS CA (the same names and
// uses), a configuration update naming the new certificate for the
// consenter (of Raft in the ConsensusType's metadata, of BFT in the
// consenter mapping; its signing identity unchanged), then the orderer
// restarted on the new key. The writes go on; the orderer serves the new
// certificate, is a consenter again, and with other orderers stopped the
// writes need it; the audit reads across the update and every orderer
// agrees with its head. It changes the channel's configuration, so it
// runs only with TDSC_FABRIC_RECONFIGURE=1 on a cluster.
func TestConsenterTLSRenewed(t *testing.T) {
	m, s, n := startMembership(t, "renews a consenter's TLS certificate by a configuration update and a restart",
		"a Raft cluster of three orderers or more, or a BFT cluster of four or more",
		func(typ string, n int) bool { return typ == "etcdraft" && n >= 3 || typ == "BFT" && n >= 4 })
	p, l, ch := m.p, m.l, m.ch
	ctx := context.Background()
	w := keepWriting(s, l, 4, "renews")
	m.progress(w, "before")
	k := lastNotLeading(n, clusterLeader(t, p))
	addr := ordererAddress(t, p, k)
	cfg0 := lastConfigBlock(t, ctx, ch)
	node := ordererNodeDir(t, p, cfg0, k, addr)
	renewed := renewTLS(t, node)

	cfg1 := nameConsenterTLS(t, p, ch, cfg0, addr, renewed.cert)
	t.Logf("orderer %s (%s): its consenter's TLS certificate renewed by configuration block %d", k, addr, cfg1.Header.Number)
	m.progress(w, "after the update")
	// The orderer restarts on the new key and certificate.
	restartOrderer(t, p, ch, k, node, map[string][]byte{"server.crt": renewed.cert, "server.key": renewed.key})
	m.progress(w, "the orderer restarted on its new certificate")
	if got := servedCert(t, addr, readFile(t, filepath.Join(node, "tls", "ca.crt"))); !bytes.Equal(got, renewed.der) {
		t.Fatalf("orderer %s serves another certificate than the renewed one", k)
	}
	m.needed(w, k, n)
	m.finished(w, "the renewal")
	wholeCluster(t, ch, n, 0)
	heads := auditAcross(t, l, m.written, ordering{typ: m.typ, consenters: n}, 1)
	if len(heads) != n {
		t.Fatalf("the orderers' heads after the renewal: %+v; want %d agreeing", heads, n)
	}
}

// nameConsenterTLS submits the update that names cert the client and
// server TLS certificate of the consenter at addr (of Raft in the
// ConsensusType's metadata, of BFT in the consenter mapping) to the
// configuration of block cfg, and returns the configuration block it
// made.
func nameConsenterTLS(t *testing.T, p *Profile, ch *Channel, cfg *common.Block, addr string, cert []byte) *common.Block {
	t.Helper()
	return update(t, p, ch, cfg, consenterNamed(t, addr, consenterCreds{cert: cert}))
}

// consenterCreds is what consenterNamed names for a consenter: its
// client and server TLS certificate; of a BFT cluster its signing
// identity too (PEM), unless nil.
type consenterCreds struct {
	cert, identity []byte
}

// consenterNamed is the edit of an Orderer group that names to for the
// consenter at addr (of BFT, BlockValidation the quorum of the identities
// named).
func consenterNamed(t *testing.T, addr string, to consenterCreds) func(og *common.ConfigGroup) {
	return func(og *common.ConfigGroup) {
		at := consenterAt(t, addr)
		found := false
		editConsenters(t, og,
			func(cs []*etcdraft.Consenter) []*etcdraft.Consenter {
				for _, c := range cs {
					if at(c.Host, c.Port) {
						c.ClientTlsCert, c.ServerTlsCert, found = to.cert, to.cert, true
					}
				}
				return cs
			},
			func(cs []*common.Consenter) []*common.Consenter {
				for _, c := range cs {
					if at(c.Host, c.Port) {
						c.ClientTlsCert, c.ServerTlsCert, found = to.cert, to.cert, true
						if to.identity != nil {
							c.Identity = to.identity
						}
					}
				}
				return cs
			})
		if !found {
			t.Fatalf("no consenter at %s", addr)
		}
	}
}

// restartOrderer stops orderer k, writes tlsFiles (name: content) into
// the TLS directory of its material under node, starts it again and waits
// until it is a consenter at the peer's height.
func restartOrderer(t *testing.T, p *Profile, ch *Channel, k, node string, tlsFiles map[string][]byte) {
	t.Helper()
	script(t, p, "stop-orderer", k)
	for name, b := range tlsFiles {
		if err := os.WriteFile(filepath.Join(node, "tls", name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	script(t, p, "start-orderer", k)
	ordererCaughtUp(t, p, k, ch, "consenter")
}

// ordererNodeDir is the directory of orderer k's material, as
// scripts/fabric.sh lays it out: under its organisation (the one whose
// endpoints in cfgBlock name addr), orderers/<host>.<domain>, the host
// "orderer" for the first, "orderer<k>" for the others.
func ordererNodeDir(t *testing.T, p *Profile, cfgBlock *common.Block, k, addr string) string {
	t.Helper()
	host := "orderer"
	if k != "1" {
		host += k
	}
	id, domain := ordererOrgOf(t, cfgBlock, addr)
	return filepath.Join(ordererOrgDir(p, id), "orderers", host+"."+domain)
}

// ordererOrgOf is the MSP ID and domain of the orderer organisation whose
// endpoints in cfgBlock name addr.
func ordererOrgOf(t *testing.T, cfgBlock *common.Block, addr string) (mspID, domain string) {
	t.Helper()
	cfg, err := blockConfig(cfgBlock)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range cfg.ChannelGroup.Groups["Orderer"].Groups {
		for _, a := range endpoints(t, g).Addresses {
			if a == addr {
				id := groupMSPID(t, g)
				return id, orgDomain(id)
			}
		}
	}
	t.Fatalf("no orderer organisation names %s", addr)
	return "", ""
}

// renewedTLS is a TLS certificate (PEM and DER) and its key (PKCS #8 PEM).
type renewedTLS struct {
	cert, der, key []byte
}

// renewTLS issues a new key and certificate for the orderer whose
// material is under node, from its organisation's TLS CA
// (../../tlsca), with the names and uses of its present certificate and a
// year's validity.
func renewTLS(t *testing.T, node string) renewedTLS {
	t.Helper()
	caDir := filepath.Join(node, "..", "..", "tlsca")
	matches, _ := filepath.Glob(filepath.Join(caDir, "*-cert.pem"))
	if len(matches) != 1 {
		t.Fatalf("%s: %d CA certificates", caDir, len(matches))
	}
	caCert := pemCerts(readFile(t, matches[0]))
	blk, _ := pem.Decode(readFile(t, filepath.Join(caDir, "priv_sk")))
	if len(caCert) != 1 || blk == nil {
		t.Fatalf("%s: the TLS CA's certificate or key", caDir)
	}
	caKey, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	ca := &testCA{cert: caCert[0]}
	if ca.key, _ = caKey.(*ecdsa.PrivateKey); ca.key == nil {
		t.Fatalf("%s: the TLS CA's key is not ECDSA", caDir)
	}
	return issueTLS(t, node, ca)
}

// issueTLS issues a new key and certificate for the orderer whose
// material is under node, from ca, with the names and uses of its present
// certificate and a year's validity.
func issueTLS(t *testing.T, node string, ca *testCA) renewedTLS {
	t.Helper()
	old := pemCerts(readFile(t, filepath.Join(node, "tls", "server.crt")))
	if len(old) != 1 {
		t.Fatalf("%s: %d TLS certificates", node, len(old))
	}
	was := old[0]
	c := newTestCertWith(t, was.Subject.CommonName, ca, func(c *x509.Certificate) {
		c.Subject, c.DNSNames, c.IPAddresses = was.Subject, was.DNSNames, was.IPAddresses
		c.KeyUsage, c.ExtKeyUsage = was.KeyUsage, was.ExtKeyUsage
		c.NotBefore, c.NotAfter = time.Now().Add(-time.Minute), time.Now().AddDate(1, 0, 0)
	})
	key, err := x509.MarshalPKCS8PrivateKey(c.key)
	if err != nil {
		t.Fatal(err)
	}
	return renewedTLS{cert: c.pem, der: c.cert.Raw, key: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key})}
}

// servedCert is the certificate the TLS server at addr presents, verified
// against the CA certificates of PEM ca.
func servedCert(t *testing.T, addr string, ca []byte) []byte {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca)
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatalf("TLS to %s: %v", addr, err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].Raw
}
