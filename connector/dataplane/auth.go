package dataplane

import (
	"context"
	"net/http"
	"time"

	"github.com/tdsc/tdsc/identity"
)

// Grant is what a verified access token allows: one transfer of one dataset
// under one agreement, to the holder of the bound key.
type Grant struct {
	TokenID   string
	Issuer    string // the provider that issued the token
	Subject   string // the consumer it was issued to
	Agreement string
	Dataset   string
	Transfer  string
	Expiry    time.Time
	// KeyThumbprint is the cnf.jkt the proof of possession was checked against.
	KeyThumbprint string
}

// TokenVerifier checks an access token and its DPoP proof for one request:
// signature by the issuer's registered key, audience, expiry, and the proof's
// key, method and URL. Errors wrap ErrTokenExpired, ErrProofInvalid or
// ErrTokenInvalid so a refusal names its rule.
type TokenVerifier interface {
	VerifyAccess(ctx context.Context, token, proof, method, url, audience string) (Grant, error)
}

// LiveCheck re-evaluates the agreement behind a grant on every request: the
// time window, the use count, revocation, and that the grant's dataset is the
// agreement's. Errors wrap ErrOutsideWindow, ErrUseCountExceeded, ErrRevoked,
// ErrWrongDataset or ErrUnknownTransfer.
type LiveCheck interface {
	CheckTransfer(ctx context.Context, g Grant) error
}

// Recorder accounts for data-plane outcomes: transfer.completed and
// transfer.denied on the ledger (through the connector's outbox).
type Recorder interface {
	Completed(ctx context.Context, r TransferResult) error
	Denied(ctx context.Context, d DenialInfo) error
}

// Dataset is what a grant's dataset id resolves to.
type Dataset struct {
	ID     string
	Source Source
	// ContentHash is the registered SHA-256 of the dataset's content (a file
	// dataset), hex or "sha256:"+hex; empty when none is registered.
	ContentHash string
}

// Datasets resolves dataset ids; it returns an error wrapping ErrNotFound for
// an id it does not hold.
type Datasets interface {
	Dataset(ctx context.Context, id string) (Dataset, error)
}

// DatasetMap is a fixed set of datasets by id.
type DatasetMap map[string]Dataset

// Dataset implements Datasets.
func (m DatasetMap) Dataset(ctx context.Context, id string) (Dataset, error) {
	d, ok := m[id]
	if !ok {
		return Dataset{}, ErrNotFound
	}
	return d, nil
}

// Roles in a TransferResult.
const (
	RoleProvider = "provider"
	RoleConsumer = "consumer"
)

// TransferResult is what one side saw of a transfer that delivered a whole
// object: the bytes and the SHA-256 of the content.
type TransferResult struct {
	Role      string // RoleProvider or RoleConsumer
	Transfer  string
	Agreement string
	Dataset   string
	Provider  string
	Consumer  string
	TokenID   string
	Path      string // "" for the dataset itself
	// Size is the object's size; Offset where this request started (non-zero
	// when resumed); Bytes how many bytes this request moved.
	Size, Offset, Bytes int64
	// ContentHash is the hex SHA-256 of the whole object.
	ContentHash string
	// HashKnown is set when the provider sent a local file zero-copy under
	// the hash of its version, read in full by an earlier send, instead of
	// hashing these bytes; the file's version was checked before the last
	// byte went out. The receiver hashes what it receives either way.
	HashKnown bool
	// RegisteredHash is the dataset's registered hash (normalised hex), if any.
	RegisteredHash string
	// Mismatch is set when ContentHash differs from RegisteredHash: the
	// consumer sees ErrHashMismatch and the ledger keeps the record.
	Mismatch bool
	Started  time.Time
	Finished time.Time
}

// DenialInfo is a refused data-plane request.
type DenialInfo struct {
	Role      string
	Transfer  string // from the URL, or the grant when the token verified
	Agreement string
	Dataset   string
	Consumer  string
	TokenID   string
	Reason    string // a Reason constant
	Detail    string
	Method    string
	Path      string
	Remote    string
	Time      time.Time
}

// accessToken reads "Authorization: DPoP <t>" or "Bearer <t>" and the DPoP proof.
func accessToken(r *http.Request) (token, proof string) {
	if _, tok, ok := identity.Authorization(r); ok {
		return tok, r.Header.Get("DPoP")
	}
	return "", ""
}

type grantKey struct{}

// NewContext returns ctx carrying the request's verified grant. The pull
// handler sets it before it calls Datasets, the Source and the Recorder, so a
// source that needs to know who asks (a per-consumer database view, say) can.
func NewContext(ctx context.Context, g Grant) context.Context {
	return context.WithValue(ctx, grantKey{}, g)
}

// GrantFromContext returns the grant NewContext stored, if any.
func GrantFromContext(ctx context.Context) (Grant, bool) {
	g, ok := ctx.Value(grantKey{}).(Grant)
	return g, ok
}
