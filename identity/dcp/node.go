package dcp

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-resty/resty/v2"

	"github.com/tdsc/tdsc/identity"
)

// NodeConfig is what a connector node needs to speak DCP.
type NodeConfig struct {
	// DID is the node's did:web; Key its private key (the document's key).
	DID string
	Key *identity.Key
	// DSP is the node's DSP endpoint URL, published as a DataService entry
	// (optional).
	DSP string
	// CredentialService is the base URL of the node's Credential Service
	// (default: the DID's base address + "/cs").
	CredentialService string
	// Space and Trusted configure the verifier: the space whose membership
	// credentials are required, and the trusted issuers' DIDs (the
	// authority's).
	Space   string
	Trusted []string
	// HTTPClient reaches other nodes' documents, Credential Services and
	// status lists (its TLS configuration carries the space CA, if any).
	HTTPClient *http.Client
	// CacheTTL bounds every cache (documents, presentations, status lists);
	// default 30 s.
	CacheTTL time.Duration
	// AllowedHosts limits the hosts the node's DCP side fetches from (DID
	// documents, Credential Services, status lists); empty allows any.
	AllowedHosts Hosts
	// CredentialStore, when set, is the file keeping the credentials issuers
	// deliver across restarts (CredentialService.OpenStore).
	CredentialStore string
	Now             func() time.Time
}

// Node assembles a node's DCP pieces: its DID document, STS, Credential
// Service and verifier, and one handler serving the document and the
// Credential Service at their public paths.
type Node struct {
	Document    *Document
	STS         *STS
	Credentials *CredentialService
	Verifier    *Verifier
	Resolver    *Resolver
	csPath      string
	docPath     string
	// http and hosts reach issuers (RequestCredential).
	http  *resty.Client
	hosts Hosts
	// keep is what KeepMembership last did (Keeper).
	keepMu sync.Mutex
	keep   KeeperStatus
}

// NewNode assembles a node from cfg.
func NewNode(cfg NodeConfig) (*Node, error) {
	base, err := WebBase(cfg.DID)
	if err != nil {
		return nil, err
	}
	if cfg.Key == nil {
		return nil, errors.New("dcp: node: field Key: required")
	}
	if cfg.CredentialService == "" {
		cfg.CredentialService = base + "/cs"
	}
	cfg.CredentialService = strings.TrimRight(cfg.CredentialService, "/")
	if cfg.CacheTTL == 0 {
		cfg.CacheTTL = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	svc := []Service{{ID: "credential-service", Type: ServiceCredential, ServiceEndpoint: cfg.CredentialService}}
	if cfg.DSP != "" {
		svc = append(svc, Service{ID: "dsp", Type: ServiceDSP, ServiceEndpoint: cfg.DSP})
	}
	n := &Node{}
	if n.Document, err = NewDocument(cfg.DID, cfg.Key.JWK(), svc...); err != nil {
		return nil, err
	}
	opts := []ResolverOption{WithDocumentTTL(cfg.CacheTTL), WithResolverClock(cfg.Now), WithAllowedHosts(cfg.AllowedHosts)}
	if cfg.HTTPClient != nil {
		opts = append(opts, WithHTTPClient(cfg.HTTPClient))
	}
	if n.Resolver, err = NewResolver(opts...); err != nil {
		return nil, err
	}
	if n.STS, err = NewSTS(cfg.DID, cfg.Key, 0, cfg.Now); err != nil {
		return nil, err
	}
	n.Credentials = NewCredentialService(n.STS, n.Resolver, WithTrustedIssuers(cfg.Trusted...))
	if cfg.CredentialStore != "" {
		if err := n.Credentials.OpenStore(cfg.CredentialStore); err != nil {
			return nil, err
		}
	}
	n.http, n.hosts = restyOver(cfg.HTTPClient), cfg.AllowedHosts
	n.http.SetTimeout(10 * time.Second).SetRedirectPolicy(resty.NoRedirectPolicy())
	if n.Verifier, err = NewVerifier(VerifierConfig{STS: n.STS, Resolver: n.Resolver, Space: cfg.Space, Trusted: cfg.Trusted,
		HTTPClient: cfg.HTTPClient, CacheTTL: cfg.CacheTTL, AllowedHosts: cfg.AllowedHosts, Now: cfg.Now}); err != nil {
		return nil, err
	}
	cu, err := url.Parse(cfg.CredentialService)
	if err != nil {
		return nil, fmt.Errorf("dcp: node: field CredentialService: %w", err)
	}
	du, _ := url.Parse(mustWebURL(cfg.DID))
	n.csPath, n.docPath = cu.Path, du.Path
	return n, nil
}

func mustWebURL(did string) string { u, _ := WebURL(did); return u }

// Handler serves the DID document at the did:web's path and the Credential
// Service's Resolution API under its base path. Mount it on the node's
// public HTTPS server at "/" (or at both paths).
func (n *Node) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(n.docPath, DocumentHandler(n.Document))
	cs := http.StripPrefix(n.csPath, n.Credentials.Handler())
	for _, p := range []string{PresentationsPath, CredentialsPath, OffersPath} {
		mux.Handle(n.csPath+p, cs)
	}
	return mux
}

// Paths are the URL paths Handler serves: the DID document's and the
// Credential Service's query, storage and offer endpoints. A node mounts
// Handler at each.
func (n *Node) Paths() []string {
	return []string{n.docPath, n.csPath + PresentationsPath, n.csPath + CredentialsPath, n.csPath + OffersPath}
}

// Token is what the node sends to peer with a DSP request: a self-issued ID
// token with an access token to its membership credential.
func (n *Node) Token(peer string) (string, error) {
	return n.STS.Request(peer, ScopeMembership)
}
