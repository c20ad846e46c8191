package connector

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tdsc/tdsc/connector/store"
	"github.com/tdsc/tdsc/identity/dcp"
)

// Config is a node's configuration. Every field has a YAML key and an
// environment variable (TDSC_ plus the upper-snake key, e.g. TDSC_LISTEN);
// ApplyEnv applies the environment over the file, and Validate checks the result.
type Config struct {
	// ParticipantID is this node's registered participant id (required).
	ParticipantID string `yaml:"participantId" env:"TDSC_PARTICIPANT_ID"`
	// Space is the data space id the ledger was created for (required).
	Space string `yaml:"space" env:"TDSC_SPACE"`
	// Listen is the address the node's HTTP server binds (cmd only).
	Listen string `yaml:"listen" env:"TDSC_LISTEN"`
	// PublicURL is the base URL peers reach this node's DSP endpoint at;
	// default http://<Listen>.
	PublicURL string `yaml:"publicUrl" env:"TDSC_PUBLIC_URL"`
	// DataDir holds the SQLite store (connector.db).
	DataDir string `yaml:"dataDir" env:"TDSC_DATA_DIR"`
	// KeyFile is this participant's private key (PKCS#8 PEM, mode 0600).
	KeyFile string `yaml:"keyFile" env:"TDSC_KEY_FILE"`
	// OperatorTokenFile holds the bearer token of the management API; the
	// environment variable TDSC_OPERATOR_TOKEN may carry the token instead.
	OperatorTokenFile string `yaml:"operatorTokenFile" env:"TDSC_OPERATOR_TOKEN_FILE"`
	// LedgerURL is the ledger service (tdsc ledger serve); empty with LedgerDir set
	// runs the embedded ledger in-process.
	LedgerURL string `yaml:"ledgerUrl" env:"TDSC_LEDGER_URL"`
	// LedgerDir and GenesisFile open an embedded ledger in this process (cmd only).
	LedgerDir   string `yaml:"ledgerDir" env:"TDSC_LEDGER_DIR"`
	GenesisFile string `yaml:"genesisFile" env:"TDSC_GENESIS_FILE"`
	// DataSources is the directory dataset sources ("file:" paths) are read from
	// by the data plane.
	DataSources string `yaml:"dataSources" env:"TDSC_DATA_SOURCES"`
	// ManualOffers makes the consumer rest in OFFERED on every provider
	// offer until its operator accepts, counters or terminates it (POST
	// /api/v1/negotiations/{id}/accept, …/counter, …/terminate). By default
	// an offer that is the request or narrower is accepted at once.
	ManualOffers bool `yaml:"manualOffers" env:"TDSC_MANUAL_OFFERS"`
	// HoldTransfers makes the provider hold every transfer request in
	// REQUESTED until its operator starts it (POST
	// /api/v1/transfers/{id}/start) or terminates it. By default a request
	// under a live agreement starts at once.
	HoldTransfers bool `yaml:"holdTransfers" env:"TDSC_HOLD_TRANSFERS"`
	// HoldFinalize makes the provider wait in VERIFIED for its operator's
	// sign-off (POST /api/v1/negotiations/{id}/approve) before it records
	// agreement.signed and finalizes; the operator may terminate instead.
	HoldFinalize bool `yaml:"holdFinalize" env:"TDSC_HOLD_FINALIZE"`
	// ApprovedPrograms are the hashes ("sha256:<hex>") of compute programs this
	// provider's operator approved: a policy's programApproval eq operator
	// admits them (docs/sandbox.md).
	ApprovedPrograms []string `yaml:"approvedPrograms"`
	// ComputeCacheDir keeps the sandbox's compiled programs across restarts;
	// empty keeps them in memory.
	ComputeCacheDir string `yaml:"computeCacheDir" env:"TDSC_COMPUTE_CACHE_DIR"`

	// Workers run outgoing steps concurrently (default 64); a step waiting
	// for a strict ledger commit holds its worker.
	Workers int `yaml:"workers" env:"TDSC_WORKERS"`
	// OutboxBatch caps the records in one ledger batch (default 512).
	OutboxBatch int `yaml:"outboxBatch" env:"TDSC_OUTBOX_BATCH"`
	// RetryMin and RetryMax bound the backoff of ledger and peer retries
	// (defaults 50ms and 10s).
	RetryMin time.Duration `yaml:"retryMin" env:"TDSC_RETRY_MIN"`
	RetryMax time.Duration `yaml:"retryMax" env:"TDSC_RETRY_MAX"`
	// PeerTimeout bounds one DSP call to a peer (default 10s).
	PeerTimeout time.Duration `yaml:"peerTimeout" env:"TDSC_PEER_TIMEOUT"`
	// StrictTimeout bounds the wait for a strict ledger commit within one step
	// (default 30s); the step is retried after it.
	StrictTimeout time.Duration `yaml:"strictTimeout" env:"TDSC_STRICT_TIMEOUT"`
	// DirectoryPoll is how often the node asks the ledger which participants'
	// directory entries changed (a suspension, a removed key) and drops its
	// cached entries of them (default 1s, at least 10ms): a change takes
	// effect within it rather than within the participant cache's 30 s TTL.
	DirectoryPoll time.Duration `yaml:"directoryPoll" env:"TDSC_DIRECTORY_POLL"`
	// MaxAttempts is how often an outgoing step is tried before the
	// negotiation or transfer is terminated with the last error (default 20).
	MaxAttempts int `yaml:"maxAttempts" env:"TDSC_MAX_ATTEMPTS"`
	// AccessTTL is the life of access tokens issued at transfer start (default 5m).
	AccessTTL time.Duration `yaml:"accessTtl" env:"TDSC_ACCESS_TTL"`
	// HashEverySend makes the data plane hash every byte of every send of a
	// local file. Off (the default), a file version it has read in full is
	// sent zero-copy under that read's SHA-256 (docs/dataplane.md).
	HashEverySend bool `yaml:"hashEverySend" env:"TDSC_HASH_EVERY_SEND"`
	// DatabaseURL, a postgres:// URL, keeps the node's state in PostgreSQL
	// instead of the SQLite file dataDir/connector.db (same schema and
	// migrations). One node process uses a database at a time.
	DatabaseURL string `yaml:"databaseUrl" env:"TDSC_DATABASE_URL"`
	// TLSCertFile and TLSKeyFile (PEM) make the node serve HTTPS (TLS 1.2 or
	// later); publicUrl then defaults to https://<listen>.
	TLSCertFile string `yaml:"tlsCertFile" env:"TDSC_TLS_CERT_FILE"`
	TLSKeyFile  string `yaml:"tlsKeyFile" env:"TDSC_TLS_KEY_FILE"`
	// TLSCAFile (PEM) adds certificate authorities, besides the system's,
	// that the node trusts when it calls peers, their data planes and the
	// ledger service: a space's own CA.
	TLSCAFile string `yaml:"tlsCaFile" env:"TDSC_TLS_CA_FILE"`

	// DID, a did:web, makes the node speak the Decentralized Claims Protocol
	// 1.0 beside tdsc's protocol tokens (docs/security.md): it serves its DID
	// document (its key) at the did:web's HTTPS address and its Credential
	// Service under /cs, accepts DCP calls from DID peers, and calls them with
	// DCP. The DID's host must be this node's public host (publicUrl https).
	DID string `yaml:"did" env:"TDSC_DID"`
	// TrustedIssuers are the DIDs of the credential issuers this node trusts
	// (the space authority's did:web); required with did.
	TrustedIssuers []string `yaml:"trustedIssuers"`
	// CredentialFiles hold the node's verifiable credentials (JWT, as
	// tdsc authority credentials issue writes them), filed in its Credential
	// Service at start.
	CredentialFiles []string `yaml:"credentialFiles"`
	// CredentialIssuer, one of trustedIssuers, makes the node keep its
	// membership credential from that issuer's DCP Issuer Service (the
	// authority's): it requests one when it holds none valid, renews it with
	// 40 % of its life left, and requests again when the issuer offers one.
	// Whatever issuers deliver is kept in dataDir/dcp-credentials.json.
	CredentialIssuer string `yaml:"credentialIssuer" env:"TDSC_CREDENTIAL_ISSUER"`
	// CredentialCheck is how often the node looks at that credential
	// (default 1m, at least 10ms); an offer makes it look at once.
	CredentialCheck time.Duration `yaml:"credentialCheck" env:"TDSC_CREDENTIAL_CHECK"`
	// DCPCacheTTL bounds what the DCP verifier caches (DID documents, a
	// caller's verified presentations, status lists; default 30s).
	DCPCacheTTL time.Duration `yaml:"dcpCacheTtl" env:"TDSC_DCP_CACHE_TTL"`
	// DCPAllowedHosts limits the hosts the node fetches DID documents,
	// Credential Services and status lists from (host, host:port or
	// *.domain); empty allows any. A DCP caller names the DID the node
	// resolves, so a node in a private network should list its space's hosts.
	DCPAllowedHosts []string `yaml:"dcpAllowedHosts"`
}

// DefaultConfig returns the defaults every unset field takes.
func DefaultConfig() Config {
	return Config{
		Listen:          "127.0.0.1:8181",
		DataDir:         "./data",
		CredentialCheck: time.Minute,
		Workers:         64,
		OutboxBatch:     512,
		RetryMin:        50 * time.Millisecond,
		RetryMax:        10 * time.Second,
		PeerTimeout:     10 * time.Second,
		StrictTimeout:   30 * time.Second,
		DirectoryPoll:   time.Second,
		MaxAttempts:     20,
		AccessTTL:       5 * time.Minute,
	}
}

// withDefaults fills zero fields from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	v, dv := reflect.ValueOf(&c).Elem(), reflect.ValueOf(d)
	for i := 0; i < v.NumField(); i++ {
		if v.Field(i).IsZero() {
			v.Field(i).Set(dv.Field(i))
		}
	}
	if c.PublicURL == "" && c.Listen != "" {
		c.PublicURL = "http://" + c.Listen
		if c.TLSCertFile != "" {
			c.PublicURL = "https://" + c.Listen
		}
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	return c
}

// ApplyEnv sets every field whose environment variable lookup finds.
func (c *Config) ApplyEnv(lookup func(string) (string, bool)) error {
	v := reflect.ValueOf(c).Elem()
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		name := t.Field(i).Tag.Get("env")
		s, ok := lookup(name)
		if name == "" || !ok {
			continue
		}
		f := v.Field(i)
		switch {
		case f.Type() == reflect.TypeOf(time.Duration(0)):
			d, err := time.ParseDuration(s)
			if err != nil {
				return fmt.Errorf("config: %s: %q is not a duration (e.g. 500ms, 10s): %w", name, s, err)
			}
			f.SetInt(int64(d))
		case f.Kind() == reflect.Int:
			n, err := strconv.Atoi(s)
			if err != nil {
				return fmt.Errorf("config: %s: %q is not an integer", name, s)
			}
			f.SetInt(int64(n))
		case f.Kind() == reflect.String:
			f.SetString(s)
		case f.Kind() == reflect.Bool:
			b, err := strconv.ParseBool(s)
			if err != nil {
				return fmt.Errorf("config: %s: %q is not a boolean (true or false)", name, s)
			}
			f.SetBool(b)
		}
	}
	return nil
}

// Validate checks the configuration (after defaults), naming the field at fault.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if c.ParticipantID == "" {
		errs = append(errs, errors.New("config: participantId: required (this node's registered participant id)"))
	}
	if c.Space == "" {
		errs = append(errs, errors.New("config: space: required (the data space id of the ledger's genesis)"))
	}
	if c.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Listen); err != nil {
			errs = append(errs, fmt.Errorf("config: listen: %q is not host:port: %v", c.Listen, err))
		}
	}
	if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("config: publicUrl: %q must be an absolute http(s) URL", c.PublicURL))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("config: dataDir: required"))
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"workers", c.Workers}, {"outboxBatch", c.OutboxBatch}, {"maxAttempts", c.MaxAttempts}} {
		if f.v <= 0 {
			errs = append(errs, fmt.Errorf("config: %s: must be positive, got %d", f.name, f.v))
		}
	}
	if c.DatabaseURL != "" && !store.IsPostgres(c.DatabaseURL) {
		errs = append(errs, errors.New("config: databaseUrl: must be a postgres:// or postgresql:// URL (leave it empty for SQLite in dataDir)"))
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		errs = append(errs, errors.New("config: tlsCertFile/tlsKeyFile: set both (HTTPS) or neither (plain HTTP)"))
	}
	if c.DID != "" {
		base, err := dcp.WebBase(c.DID)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("config: did: %w", err))
		case !strings.HasPrefix(c.PublicURL, base) && !strings.HasPrefix(base, c.PublicURL):
			errs = append(errs, fmt.Errorf("config: did: %s resolves to %s, which is not this node's publicUrl %s (the node serves its DID document)", c.DID, base, c.PublicURL))
		}
		if err := dcp.Hosts(c.DCPAllowedHosts).Validate(); err != nil {
			errs = append(errs, fmt.Errorf("config: dcpAllowedHosts: %w", err))
		}
		if len(c.TrustedIssuers) == 0 {
			errs = append(errs, errors.New("config: trustedIssuers: required with did (the space authority's did:web)"))
		}
		if c.CredentialIssuer != "" && !slices.Contains(c.TrustedIssuers, c.CredentialIssuer) {
			errs = append(errs, fmt.Errorf("config: credentialIssuer: %s must be one of trustedIssuers (the node files only their credentials)", c.CredentialIssuer))
		}
		if c.CredentialCheck != 0 && c.CredentialCheck < 10*time.Millisecond {
			errs = append(errs, fmt.Errorf("config: credentialCheck: must be at least 10ms, got %v", c.CredentialCheck))
		}
	} else {
		if len(c.TrustedIssuers) > 0 || len(c.CredentialFiles) > 0 {
			errs = append(errs, errors.New("config: trustedIssuers/credentialFiles: need did (the node's did:web)"))
		}
		if c.CredentialIssuer != "" {
			errs = append(errs, errors.New("config: credentialIssuer: needs did (the node's did:web)"))
		}
	}
	if c.DirectoryPoll < 10*time.Millisecond {
		errs = append(errs, fmt.Errorf("config: directoryPoll: must be at least 10ms, got %v", c.DirectoryPoll))
	}
	if c.RetryMin <= 0 || c.RetryMax < c.RetryMin {
		errs = append(errs, fmt.Errorf("config: retryMin/retryMax: need 0 < retryMin <= retryMax, got %v and %v", c.RetryMin, c.RetryMax))
	}
	return errors.Join(errs...)
}
