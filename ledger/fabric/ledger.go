package fabric

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hyperledger/fabric-gateway/pkg/client"
	"github.com/hyperledger/fabric-gateway/pkg/hash"
	fid "github.com/hyperledger/fabric-gateway/pkg/identity"
	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"

	"github.com/tdsc/tdsc/chaincode/wire"
	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/policy"
	"github.com/tdsc/tdsc/suite"
)

// DefaultInFlight is Config.InFlight's default.
const DefaultInFlight = 8

// Config configures a Ledger. Zero fields take the defaults below.
type Config struct {
	Profile *Profile
	// Org is the index in Profile.Orgs of the organisation whose peer
	// gateway and client identity are used (default 0).
	Org int
	// Chaincode overrides Profile.Chaincode: one chaincode per space.
	Chaincode string
	// MaxRecords bounds the records of one transaction (default 1024).
	// Smaller transactions run in parallel: writers that submit in step
	// (all waiting for their last receipt) would otherwise all land in one
	// large transaction, with nothing else in flight while it commits.
	MaxRecords int
	// Linger is how long a transaction waits for more batches once a slot
	// is free (default 2ms). Batches that arrive while every slot is taken
	// join the next transaction without waiting.
	Linger time.Duration
	// InFlight bounds the Append transactions this ledger has in flight at
	// once (default DefaultInFlight). The chaincode writes each batch under its own keys,
	// so transactions conflict only where their rules share state (an
	// agreement's use count, a record id, a transfer).
	InFlight int
	// Follower, if set, is a ledger of the same channel and chaincode in
	// this process whose view of the blocks this one reads and answers
	// receipts from, instead of following the channel itself (one gateway
	// per organisation, one view of the ledger). It must outlive this one.
	Follower *Ledger
	// IndexFile, if set, keeps the follower's index of the channel's blocks
	// in this bbolt file (created if absent): a restarted ledger resumes
	// from the last block it holds instead of reading the channel from
	// block 0, and the index's memory does not grow with the ledger. Empty:
	// in memory. One ledger at a time uses a file; it is for one channel and
	// chaincode and refused for another.
	IndexFile string
	// NoteKey is the note signer key ("PRIVATE+KEY+...") for checkpoints; if
	// empty, Open makes one for this process (see VerifierKey).
	NoteKey string
	// Timeout bounds each Fabric call (default 60s).
	Timeout time.Duration
	Log     *slog.Logger

	// resendAfter: the longest a transaction the orderers took waits for
	// its commit status before it is submitted again (default resendAfter;
	// tests set less); less where the ledger learns it (commitWaits).
	resendAfter time.Duration
}

func (c *Config) setDefaults() {
	if c.MaxRecords == 0 {
		c.MaxRecords = 1024
	}
	if c.Linger == 0 {
		c.Linger = 2 * time.Millisecond
	}
	if c.InFlight == 0 {
		c.InFlight = DefaultInFlight
	}
	if c.Timeout == 0 {
		c.Timeout = 60 * time.Second
	}
	if c.resendAfter == 0 {
		c.resendAfter = resendAfter
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Chaincode == "" && c.Profile != nil {
		c.Chaincode = c.Profile.Chaincode
	}
}

// Validate checks the configuration after defaults.
func (c *Config) Validate() error {
	if c.Profile == nil {
		return errors.New("fabric: config: field Profile: required")
	}
	if err := c.Profile.Validate(); err != nil {
		return fmt.Errorf("fabric: config: profile: %w", err)
	}
	if c.Org < 0 || c.Org >= len(c.Profile.Orgs) {
		return fmt.Errorf("fabric: config: field Org: %d, the profile has %d orgs", c.Org, len(c.Profile.Orgs))
	}
	if c.MaxRecords < 1 {
		return fmt.Errorf("fabric: config: field MaxRecords: must be at least 1")
	}
	if c.Follower != nil && (c.Follower.cfg.Chaincode != c.Chaincode || c.Follower.cfg.Profile.Channel != c.Profile.Channel) {
		return fmt.Errorf("fabric: config: field Follower: follows chaincode %s on channel %s, not %s on %s",
			c.Follower.cfg.Chaincode, c.Follower.cfg.Profile.Channel, c.Chaincode, c.Profile.Channel)
	}
	if c.Follower != nil && c.IndexFile != "" {
		return fmt.Errorf("fabric: config: field IndexFile: set with Follower, whose index this ledger reads")
	}
	if c.InFlight < 1 || c.InFlight > 1024 {
		return fmt.Errorf("fabric: config: field InFlight: must be 1 to 1024, got %d", c.InFlight)
	}
	if c.Linger < 0 || c.Timeout < 0 {
		return fmt.Errorf("fabric: config: fields Linger, Timeout: must not be negative")
	}
	return nil
}

// Ledger is a connection to the tdsc chaincode of one space.
type Ledger struct {
	cfg      Config
	ch       *Channel // the connection to the gateway's peer
	contract *client.Contract

	mu     sync.Mutex
	g      *ledger.Genesis
	signer note.Signer
	vkey   string

	reqs   chan *request
	stop   chan struct{}
	done   chan struct{}
	closed sync.Once

	slots  chan struct{} // one per transaction in flight
	turn   atomic.Uint64 // transactions proposed: whose turn to endorse (Ledger.endorsers)
	flight flight
	stats  counters
	// waits: this ledger's transactions' waits for their commit status,
	// which bound when a lost one is sent again (commitWaits).
	waits commitWaits

	// The follower's view of the channel (follow.go), this ledger's own or
	// Config.Follower's.
	*view
	followed chan struct{} // closed when the follower stopped
	// heights follows the other endorsers' peers than the one the view
	// reads (Config.Follower's, if set); nil if there are none.
	heights *peerHeights
	// peerHeight is this ledger's gateway peer's height as its probes
	// (Health, Ready) last asked it.
	peerHeight sharedProbe[uint64]
	// orderers are the channel's orderers as its configuration names them,
	// ordererProbe what they answer, as WritesReady's probes and the
	// metrics of a second share it, and viewProbe that with their BFT
	// views, as the metrics of a second share it (Orderers).
	orderers     orderers
	ordererProbe sharedProbe[OrdererAnswers]
	viewProbe    sharedProbe[OrdererAnswers]
	// endorseProbe is whether the endorsers' peers run the chaincode, as
	// WritesReady's probes last asked it (askEndorsers, writesready.go).
	endorseProbe sharedProbe[struct{}]
	// unable marks the endorsers whose peer cannot endorse (unable.go).
	unable unableEndorsers
	// asked is how many of the profile's endorsers a transaction asks
	// (endorsersAsked), as the chaincode's policy last checked needs:
	// policyAt is the view's definitions count then (policycheck.go).
	asked    atomic.Int64
	policyAt atomic.Uint64
	policyMu sync.Mutex // one check at a time
	// policyFailures spaces out followPolicy's log of re-checks that fail
	// (under policyMu).
	policyFailures failureLog
	// short is the last check's ErrEndorsersShort error, nil if it found
	// the endorsers enough (or has not judged): see policyShort.
	short atomic.Pointer[error]
}

// Open connects to the peer gateway of cfg.Org. It does not talk to the
// chaincode yet: Init (or the first call) does.
func Open(ctx context.Context, cfg Config) (*Ledger, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	org := cfg.Profile.Orgs[cfg.Org]
	ch, err := openChannel(cfg.Profile, cfg.Org, cfg.Timeout)
	if err != nil {
		return nil, err
	}
	l := &Ledger{cfg: cfg, ch: ch, reqs: make(chan *request, 1024), stop: make(chan struct{}), done: make(chan struct{}),
		slots: make(chan struct{}, cfg.InFlight), followed: make(chan struct{})}
	l.contract = ch.network.GetContract(cfg.Chaincode)
	l.asked.Store(int64(cfg.Profile.EndorsersAsked()))
	if err := l.setNoteKey(cfg.NoteKey); err != nil {
		l.ch.Close() // not l.Close: nothing runs yet that it would wait for
		return nil, err
	}
	if cfg.Follower != nil {
		// The follower's: it reads the same peer's blocks, so the same
		// endorsers' peers are the others.
		l.heights = cfg.Follower.heights
	} else if l.heights, err = l.followPeers(org.MSPID); err != nil {
		l.ch.Close()
		return nil, err
	}
	if cfg.Follower != nil {
		l.view = cfg.Follower.view
		close(l.followed)
	} else {
		if l.view, err = openView(ctx, l); err != nil {
			close(l.stop) // ends the heights' followers
			l.heights.close()
			l.ch.Close()
			return nil, err
		}
		go l.follow()
	}
	go l.run()
	return l, nil
}

// openView makes the ledger's view of the channel: an empty index in
// memory, or the one in Config.IndexFile, which must be of this channel:
// its last block is checked against the peer's, when the peer answers
// (else the follower's first block is checked against it).
func openView(ctx context.Context, l *Ledger) (*view, error) {
	v := &view{ix: newIndex(nil), changed: make(chan struct{}), given: newGiven()}
	v.health.added = time.Now()
	if l.cfg.IndexFile == "" {
		return v, nil
	}
	x, st, err := openIndexFile(l.cfg.IndexFile, l.cfg.Profile.Channel, l.cfg.Chaincode)
	if err != nil {
		return nil, err
	}
	v.ix = x
	v.next, v.prevHash = st.position()
	v.fromBlock, v.given.upTo = v.next, v.next
	if v.next == 0 {
		return v, nil
	}
	ctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout)
	defer cancel()
	h, err := l.Height(ctx)
	if err != nil {
		return v, nil // the peer is away: the follower checks the next block's link
	}
	var b *common.Block
	if h >= v.next {
		b, err = l.Block(ctx, v.next-1)
	}
	if h < v.next || (err == nil && !bytes.Equal(headerHash(b.Header), v.prevHash)) {
		st.close()
		return nil, fmt.Errorf("fabric: index file %s: holds blocks 0 to %d of another chain than channel %s's (height %d); remove the file to read the channel again",
			l.cfg.IndexFile, v.next-1, l.cfg.Profile.Channel, h)
	}
	// The follower reads no configuration block before next: the batch
	// timeout is the newest configuration's (left unknown if unread).
	if b, err := l.ch.lastConfigBlock(ctx); err == nil {
		if cfg, err := blockConfig(b); err == nil {
			v.raftBatch.Store(int64(raftBatchTimeout(cfg)))
		}
	}
	return v, nil
}

// dial connects to org's peer.
func dial(org Org) (*grpc.ClientConn, error) {
	return dialTLS("peer", org.Peer, org.PeerTLSCA)
}

// dialTLS connects to the node (what: "peer", "orderer") at addr over TLS,
// trusting the CA certificates of the PEM file ca, and reconnects within
// seconds of the node coming back, not gRPC's two minutes.
func dialTLS(what, addr, ca string) (*grpc.ClientConn, error) {
	pem, err := os.ReadFile(ca)
	if err != nil {
		return nil, fmt.Errorf("fabric: %s TLS CA: %w", what, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("fabric: %s TLS CA %s: no certificate", what, ca)
	}
	return dialPool(what, addr, pool)
}

// dialPool is dialTLS trusting the certificates of pool.
func dialPool(what, addr string, pool *x509.CertPool) (*grpc.ClientConn, error) {
	conn, err := grpc.NewClient("dns:///"+addr, grpc.WithTransportCredentials(credentials.NewClientTLSFromCert(pool, "")),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(100<<20), grpc.MaxCallSendMsgSize(100<<20)),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
			MinConnectTimeout: 2 * time.Second}))
	if err != nil {
		return nil, fmt.Errorf("fabric: dial %s %s: %w", what, addr, err)
	}
	return conn, nil
}

// connect opens a gateway over conn as id, signing with sign over SHA-256
// digests (the hash Fabric's MSP verifies), each unary call (evaluate,
// endorse, submit, commit status) bounded by timeout.
func connect(conn *grpc.ClientConn, id *fid.X509Identity, sign fid.Sign, timeout time.Duration) (*client.Gateway, error) {
	return client.Connect(id, client.WithSign(sign), client.WithHash(hash.SHA256), client.WithClientConnection(conn),
		client.WithEvaluateTimeout(timeout), client.WithEndorseTimeout(timeout),
		client.WithSubmitTimeout(timeout), client.WithCommitStatusTimeout(timeout))
}

// clientIdentity loads an X.509 identity and its signer from PEM files.
func clientIdentity(mspID, certPath, keyPath string) (*fid.X509Identity, fid.Sign, error) {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, nil, fmt.Errorf("fabric: client certificate: %w", err)
	}
	cert, err := fid.CertificateFromPEM(certPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("fabric: client certificate %s: %w", filepath.Base(certPath), err)
	}
	id, err := fid.NewX509Identity(mspID, cert)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, nil, fmt.Errorf("fabric: client key: %w", err)
	}
	key, err := fid.PrivateKeyFromPEM(keyPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("fabric: client key: %w", err)
	}
	sign, err := fid.NewPrivateKeySign(key)
	if err != nil {
		return nil, nil, err
	}
	return id, sign, nil
}

func (l *Ledger) setNoteKey(skey string) error {
	if skey == "" {
		return nil // made on first use, once the space (the note's origin) is known
	}
	s, err := suite.NewNoteSigner(skey)
	if err != nil {
		return fmt.Errorf("fabric: config: field NoteKey: %w", err)
	}
	vkey, err := verifierKey(skey)
	if err != nil {
		return fmt.Errorf("fabric: config: field NoteKey: %w", err)
	}
	l.signer, l.vkey = s, vkey
	return nil
}

// verifierKey derives the note verifier key of an Ed25519 note signer key
// ("PRIVATE+KEY+name+hash+base64(1||seed)" gives "name+hash+base64(1||public)").
// An SM2 key (gm suite) gives its SM2 verifier key.
func verifierKey(skey string) (string, error) {
	if ks, err := suite.NoteKeySuite(skey); err == nil && ks == suite.GM {
		return suite.NoteVerifierKey(skey)
	}
	f := strings.SplitN(skey, "+", 5)
	if len(f) != 5 || f[0] != "PRIVATE" || f[1] != "KEY" {
		return "", errors.New("not a note signer key")
	}
	k, err := base64.StdEncoding.DecodeString(f[4])
	if err != nil || len(k) != 1+ed25519.SeedSize || k[0] != 1 {
		return "", errors.New("not an Ed25519 note signer key")
	}
	pub := ed25519.NewKeyFromSeed(k[1:]).Public().(ed25519.PublicKey)
	return f[2] + "+" + f[3] + "+" + base64.StdEncoding.EncodeToString(append([]byte{1}, pub...)), nil
}

// Close stops the committer (failing queued batches) and closes the connection.
func (l *Ledger) Close(ctx context.Context) error {
	l.closed.Do(func() {
		close(l.stop)
		for _, c := range []chan struct{}{l.done, l.followed} {
			select {
			case <-c:
			case <-ctx.Done():
			}
		}
		l.unable.close()
		if l.cfg.Follower == nil {
			l.heights.close()
			l.ixMu.Lock() // not while the follower adds a block
			l.ix.st.close()
			l.ixMu.Unlock()
		}
		l.orderers.close()
		l.ch.Close()
	})
	return nil
}

// Origin is the checkpoint origin of a space's ledger (the same as the
// embedded ledger's, so checkpoints of both read alike).
func Origin(space string) string { return "tdsc/ledger/" + space }

// Init checks the profile's endorsers against the chaincode's policy
// (CheckEndorsers), fixes the chaincode's space to g (idempotent), as the
// org's admin identity of the profile, and makes the checkpoint key if none
// was configured.
func (l *Ledger) Init(ctx context.Context, g ledger.Genesis) error {
	arg, err := json.Marshal(&g)
	if err != nil {
		return err
	}
	// A profile whose endorsers fall short of the chaincode's policy
	// would have every Append refused at commit: say so before writing.
	if err := l.CheckEndorsers(ctx); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout)
	defer cancel()
	// The chaincode takes a genesis only from an org admin.
	org := l.cfg.Profile.Orgs[l.cfg.Org]
	contract := l.contract
	if org.AdminCert != "" && org.AdminKey != "" {
		id, sign, err := clientIdentity(org.MSPID, org.AdminCert, org.AdminKey)
		if err != nil {
			return err
		}
		gw, err := connect(l.ch.conn, id, sign, l.cfg.Timeout)
		if err != nil {
			return fmt.Errorf("fabric: admin gateway: %w", err)
		}
		defer gw.Close()
		contract = gw.GetNetwork(l.cfg.Profile.Channel).GetContract(l.cfg.Chaincode)
	}
	for {
		_, err := contract.SubmitWithContext(ctx, wire.TxInit, client.WithArguments(string(arg)))
		if err == nil {
			break
		}
		se, _ := classify(StageEndorse, err)
		if !errors.Is(se, ErrUnavailable) || ctx.Err() != nil {
			return se
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The commit status is the gateway peer's; wait until every org's peer
	// holds the genesis, so the first Append's endorsers agree — but for
	// peers that cannot endorse (away, or failing on their own) while the
	// policy can do without them: they are marked and asked again later.
	spare := len(l.cfg.Profile.Endorsers) - l.endorsersAsked()
	for _, org := range l.cfg.Profile.Orgs {
		for {
			err := l.genesisAt(ctx, org.MSPID)
			if err == nil {
				break
			}
			if failed := peerFailures(err); (failed[org.MSPID] != "" || l.heights.isAway(org.MSPID)) && spare > 0 {
				spare--
				l.markUnable(map[string]string{org.MSPID: cmp.Or(failed[org.MSPID], "its peer is away")})
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("fabric: init: peer of %s: %w", org.MSPID, err)
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
	return l.setGenesis(g)
}

func (l *Ledger) setGenesis(g ledger.Genesis) error {
	if err := g.CheckSuite(); err != nil {
		return err
	}
	cs := g.CryptoSuite()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.signer == nil {
		skey, vkey, err := cs.GenerateNoteKey(Origin(g.Space))
		if err != nil {
			return err
		}
		if l.signer, err = suite.NewNoteSigner(skey); err != nil {
			return err
		}
		l.vkey = vkey
	} else if ks, err := suite.NoteKeySuite(l.vkey); err != nil || ks != cs {
		return fmt.Errorf("%w: config: field NoteKey: not a checkpoint key of the space's %s suite", ledger.ErrGenesisMismatch, cs)
	}
	l.g = &g
	return nil
}

// genesis returns the space's genesis, reading it from the chaincode once.
func (l *Ledger) genesis(ctx context.Context) (ledger.Genesis, error) {
	l.mu.Lock()
	g := l.g
	l.mu.Unlock()
	if g != nil {
		return *g, nil
	}
	var gg ledger.Genesis
	if err := l.evaluate(ctx, &gg, wire.TxGenesis); err != nil {
		return ledger.Genesis{}, err
	}
	return gg, l.setGenesis(gg)
}

// VerifierKey is the note verifier key of the backend's checkpoints: of
// Config.NoteKey, or of the key made on Init or the first read.
func (l *Ledger) VerifierKey() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.vkey
}

// evaluate runs a query transaction and decodes its JSON result into out.
func (l *Ledger) evaluate(ctx context.Context, out any, tx string, args ...string) error {
	res, err := l.contract.EvaluateWithContext(ctx, tx, client.WithArguments(args...))
	if err != nil {
		se, _ := classify(StageEvaluate, err)
		return se
	}
	if err := json.Unmarshal(res, out); err != nil {
		return fmt.Errorf("fabric: %s result: %w", tx, err)
	}
	return nil
}

func (l *Ledger) sign(ctx context.Context, h Head) ([]byte, error) {
	g, err := l.genesis(ctx)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	signer := l.signer
	l.mu.Unlock()
	body := log.Checkpoint{Origin: Origin(g.Space), Size: h.Size, Hash: h.Root}.Marshal()
	return note.Sign(&note.Note{Text: string(body)}, signer)
}

// Participant returns a registered participant.
func (l *Ledger) Participant(ctx context.Context, id string) (identity.Participant, error) {
	var p identity.Participant
	err := l.evaluate(ctx, &p, wire.TxParticipant, id)
	return p, err
}

// ParticipantByDID returns the participant registered with did, or
// ErrNotFound (rulebook.ParticipantByDID).
func (l *Ledger) ParticipantByDID(ctx context.Context, did string) (identity.Participant, error) {
	var p identity.Participant
	err := l.evaluate(ctx, &p, wire.TxParticipantByDID, did)
	return p, err
}

// Rules returns the space's current rules.
func (l *Ledger) Rules(ctx context.Context) (policy.SpaceRules, error) {
	var r policy.SpaceRules
	err := l.evaluate(ctx, &r, wire.TxRules)
	return r, err
}

// Chaincode is the name of the space's chaincode this ledger uses.
func (l *Ledger) Chaincode() string { return l.cfg.Chaincode }

// Genesis is the space's genesis, known after Init or the first read.
func (l *Ledger) Genesis() ledger.Genesis {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.g == nil {
		return ledger.Genesis{}
	}
	return *l.g
}

// StateSource is the ledger as ledger/verify reads it (a verify.Source):
// the batches and tree heads this ledger's follower built from the blocks
// its gateway peer delivered. ReadChain reads the same from the blocks,
// checking their hash chain and endorsements too.
type StateSource struct{ L *Ledger }

// Genesis is the space's genesis as the chaincode holds it.
func (s StateSource) Genesis(ctx context.Context) (ledger.Genesis, error) { return s.L.genesis(ctx) }

// Batches is Ledger.Batches.
func (s StateSource) Batches(ctx context.Context, from uint64, fn func(*ledger.StoredBatch) error) error {
	return s.L.Batches(ctx, from, fn)
}

// Checkpoints is Ledger.Checkpoints.
func (s StateSource) Checkpoints(ctx context.Context, fn func(size uint64, note []byte) error) error {
	return s.L.Checkpoints(ctx, fn)
}
