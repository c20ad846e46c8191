// Package demo runs a whole data space on loopback — the authority, the
// embedded ledger service, three connectors — and tells a circulation story
// through it, checking that every step behaves as it should. `tdsc demo` and
// its test run the same Run.
package demo

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tdsc/tdsc/cmd/tdsc/internal/ledgerhttp"
	"github.com/tdsc/tdsc/connector"
	nodeclient "github.com/tdsc/tdsc/connector/client"
	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/identity/authority"
	"github.com/tdsc/tdsc/ledger/client"
	"github.com/tdsc/tdsc/ledger/embedded"
	"github.com/tdsc/tdsc/ledger/fabric"
)

// ledgerAudience is the aud of role tokens the demo's ledger accepts.
const ledgerAudience = "ledger"

// space is everything the demo starts: the ledger service, the authority and
// the connectors, each on its own loopback listener.
type space struct {
	dir  string
	auth *authority.Authority
	// store is the ledger behind the service; fabric is set when it is Fabric.
	store interface {
		VerifierKey() string
		Close(ctx context.Context) error
	}
	fabric    *fabric.Ledger
	ledgerURL string
	ledger    *client.Client // the authority's and the connectors' ledger client (writes)
	servers   []*http.Server
	nodes     map[string]*node
	log       *slog.Logger
	stop      context.CancelFunc // ends the ledger service's own work (ledgerhttp.Options.Context)
}

// node is one participant's connector.
type node struct {
	*connector.Node
	// api is the node's management API, as an operator reaches it.
	api *nodeclient.Client
	id  string
	key *identity.Key
	dir string
	url string
}

func listen() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }

// serve runs h on ln until the space closes.
func (s *space) serve(ln net.Listener, h http.Handler) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
	s.servers = append(s.servers, srv)
	go srv.Serve(ln)
}

// Ledger backends the demo runs on.
const (
	BackendEmbedded = "embedded"
	BackendFabric   = "fabric"
)

// startLedger creates the authority (key and genesis) and the ledger service
// that pins its key: the embedded store in dir, or a fresh tdsc chaincode on
// the Fabric network whose profile is given.
func startLedger(ctx context.Context, o Options) (*space, error) {
	s := &space{dir: o.Dir, nodes: map[string]*node{}, log: o.Logger}
	auth, err := authority.Init(filepath.Join(o.Dir, "authority"), authority.InitOptions{Space: "urn:tdsc:space:beijing-public-data", Name: "Beijing Municipal Data Authority", Region: "CN-BJ", Suite: o.Suite})
	if err != nil {
		return nil, fmt.Errorf("authority init: %w", err)
	}
	s.auth = auth
	life, stop := context.WithCancel(context.Background())
	s.stop = stop
	opts := ledgerhttp.Options{Audience: ledgerAudience, Log: o.Logger, Context: life}
	var h http.Handler
	switch o.Ledger {
	case BackendEmbedded, "":
		st, err := embedded.Open(ctx, filepath.Join(o.Dir, "ledger"), auth.Genesis(), embedded.Options{Logger: o.Logger})
		if err != nil {
			return nil, fmt.Errorf("ledger: %w", err)
		}
		s.store = st
		if h, err = ledgerhttp.Embedded(st, opts); err != nil {
			return nil, err
		}
	case BackendFabric:
		g := auth.Genesis()
		fh, l, err := ledgerhttp.Fabric(ctx, ledgerhttp.FabricOptions{Options: opts, Profile: o.FabricProfile,
			Chaincode: "tdscdemo" + strings.ToLower(connector.NewUUID()[9:17]), Deploy: true, Genesis: &g,
			NoteKeyFile: filepath.Join(o.Dir, "fabric-note.key"), IndexFile: filepath.Join(o.Dir, "fabric-index.db")})
		if err != nil {
			return nil, fmt.Errorf("ledger on fabric: %w", err)
		}
		s.store, s.fabric, h = l, l, fh
	default:
		return nil, fmt.Errorf("ledger: %q is not a backend: use %s or %s", o.Ledger, BackendEmbedded, BackendFabric)
	}
	if err := os.WriteFile(filepath.Join(o.Dir, "ledger.vkey"), []byte(s.store.VerifierKey()+"\n"), 0o644); err != nil {
		return nil, err
	}
	ln, err := listen()
	if err != nil {
		return nil, err
	}
	s.serve(ln, h)
	s.ledgerURL = "http://" + ln.Addr().String()
	if s.ledger, err = client.New(s.ledgerURL); err != nil {
		return nil, err
	}
	return s, nil
}

// roleClient is a ledger client reading with a role token.
func (s *space) roleClient(role, subject string) (*client.Client, string, error) {
	tok, err := s.auth.RoleToken(role, subject, ledgerAudience, nil, time.Hour)
	if err != nil {
		return nil, "", err
	}
	c, err := client.New(s.ledgerURL, client.WithToken(tok))
	return c, tok, err
}

// startNode starts a connector for an already registered participant.
func (s *space) startNode(ctx context.Context, id string, key *identity.Key) (*node, error) {
	dir := filepath.Join(s.dir, "connectors", id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	ln, err := listen()
	if err != nil {
		return nil, err
	}
	tok := "operator-" + connector.NewUUID()
	if err := os.WriteFile(filepath.Join(dir, "operator.token"), []byte(tok+"\n"), 0o600); err != nil {
		return nil, err
	}
	if err := key.Save(filepath.Join(dir, "participant.key")); err != nil {
		return nil, err
	}
	cfg := connector.Config{ParticipantID: id, Space: s.auth.Genesis().Space, Listen: ln.Addr().String(), DataDir: dir,
		DataSources: dir, LedgerURL: s.ledgerURL, RetryMin: 5 * time.Millisecond, RetryMax: 500 * time.Millisecond}
	n, err := connector.New(ctx, cfg, connector.WithKey(key), connector.WithLedger(s.ledger),
		connector.WithParticipants(s.ledger), connector.WithRules(s.ledger), connector.WithRegisteredDatasets(s.ledger), connector.WithOperatorToken(tok),
		connector.WithLogger(s.log))
	if err != nil {
		return nil, fmt.Errorf("connector %s: %w", id, err)
	}
	s.serve(ln, n.Handler())
	url := "http://" + ln.Addr().String()
	c, err := nodeclient.New(url, tok)
	if err != nil {
		return nil, err
	}
	nd := &node{Node: n, api: c, id: id, key: key, dir: dir, url: url}
	s.nodes[id] = nd
	return nd, nil
}

// Close stops the servers, the connectors and the ledger.
func (s *space) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if s.stop != nil {
		s.stop()
	}
	for _, srv := range s.servers {
		srv.Shutdown(ctx)
	}
	for _, n := range s.nodes {
		n.Close(ctx)
	}
	if s.store != nil {
		s.store.Close(ctx)
	}
}
