package connector

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/tdsc/tdsc/connector/api"
	"github.com/tdsc/tdsc/connector/dataplane"
	"github.com/tdsc/tdsc/connector/dsp"
	"github.com/tdsc/tdsc/connector/store"
	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/policy"
	"github.com/tdsc/tdsc/sandbox"
)

// A consumer's computation runs at the provider (docs/sandbox.md): the
// consumer POSTs a WebAssembly module to <provider>/compute/{agreement} with
// its protocol token; the provider checks the agreement and the compute
// permission for this run, runs the module over the dataset in its sandbox,
// judges the result against the output constraints, records
// compute.executed, and answers with the result only if every check held.

// computeErrorType is the error object's @type on the compute endpoint: a
// DSP TransferError, the spec's error for the use of data under an agreement
// (DSP has no computation of its own), so DSP clients read it as they are.
const computeErrorType = dsp.TypeTransferError

// maxModuleBytes bounds a submitted module.
const maxModuleBytes = 32 << 20

// Response headers of a run.
const (
	headerComputeRun    = "Tdsc-Compute-Run"
	headerComputeProg   = "Tdsc-Program"
	headerComputeOutput = "Tdsc-Output-Hash"
	headerComputeCPU    = "Tdsc-Cpu-Ms"
)

type computeRoom struct {
	once   sync.Once
	runner *sandbox.Runner
	err    error

	mu       sync.Mutex
	approved []string // set by SetApprovedPrograms; nil: Config.ApprovedPrograms
}

// SetApprovedPrograms replaces the program hashes the operator approved
// (Config.ApprovedPrograms at start): a policy's programApproval eq
// operator admits them from the next run on.
func (n *Node) SetApprovedPrograms(hashes ...string) {
	n.compute.mu.Lock()
	defer n.compute.mu.Unlock()
	n.compute.approved = append([]string{}, hashes...)
}

func (n *Node) approvedProgram(hash string) bool {
	n.compute.mu.Lock()
	defer n.compute.mu.Unlock()
	if n.compute.approved != nil {
		return slices.Contains(n.compute.approved, hash)
	}
	return slices.Contains(n.cfg.ApprovedPrograms, hash)
}

// sandbox is the node's runner, started on first use.
func (n *Node) sandbox(ctx context.Context) (*sandbox.Runner, error) {
	n.compute.once.Do(func() {
		n.compute.runner, n.compute.err = sandbox.New(context.WithoutCancel(ctx), sandbox.Config{CacheDir: n.cfg.ComputeCacheDir, Hash: n.hashAlg()})
	})
	return n.compute.runner, n.compute.err
}

// handleCompute is the provider's endpoint.
func (n *Node) handleCompute(w http.ResponseWriter, r *http.Request) {
	tok := identity.BearerToken(r)
	if tok == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="dsp"`)
		n.writeDSPError(w, r, computeErrorType, fmt.Errorf("%w: Authorization: Bearer <protocol token> is required", identity.ErrMalformed))
		return
	}
	claims, err := n.authenticate(r.Context(), tok)
	if err != nil {
		n.writeDSPError(w, r, computeErrorType, err)
		return
	}
	ctx := identity.NewContext(r.Context(), claims)
	caller := claims.Caller()
	ag, err := n.st.View(ctx).Agreement(r.PathValue("agreement"))
	if errors.Is(err, store.ErrNotFound) || err == nil && (ag.Role != store.RoleProvider || ag.Consumer != caller) {
		n.writeDSPError(w, r, computeErrorType, notFoundErr("agreement", r.PathValue("agreement")))
		return
	} else if err != nil {
		n.writeDSPError(w, r, computeErrorType, err)
		return
	}
	wasm, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxModuleBytes))
	if err != nil {
		n.writeDSPError(w, r, computeErrorType, refusedErr("compute.module", fmt.Sprintf("reading the module (at most %d bytes): %v", maxModuleBytes, err), "", ""))
		return
	}
	res, err := n.runCompute(ctx, ag, wasm)
	if err != nil {
		n.writeDSPError(w, r, computeErrorType, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set(headerComputeRun, res.run)
	w.Header().Set(headerComputeProg, res.ProgramHash)
	w.Header().Set(headerComputeOutput, res.OutputHash)
	w.Header().Set(headerComputeCPU, strconv.FormatInt(res.CPU.Milliseconds(), 10))
	w.WriteHeader(http.StatusOK)
	w.Write(res.Output)
}

type computeResult struct {
	*sandbox.Result
	run string
}

// runCompute decides, runs and records one computation under ag.
func (n *Node) runCompute(ctx context.Context, ag *store.Agreement, wasm []byte) (*computeResult, error) {
	run := n.newID()
	rec := &ledger.Record{ID: "compute.executed/" + run, Kind: ledger.KindComputeExecuted, Counterparty: ag.Consumer,
		Agreement: ag.ID, Dataset: ag.DatasetID, PolicyHash: ag.PolicyHash, Decision: ledger.DecisionAllow,
		Compute: &ledger.Compute{Run: run, Program: sandbox.HashModuleWith(n.hashAlg(), wasm)}}
	// deny records the refusal (nothing leaves) and returns it to the caller.
	deny := func(rule, reason string) (*computeResult, error) {
		rec.Decision, rec.Rule, rec.Reason, rec.Bytes = ledger.DecisionDeny, rule, reason, 0
		if err := n.lw.record(ctx, rec); err != nil {
			return nil, err
		}
		return nil, refusedErr(rule, reason, "", "")
	}
	if ag.State != store.AgreementActive {
		return deny("agreement.live", fmt.Sprintf("agreement %s is %s: %s", ag.ID, ag.State, ag.Reason))
	}
	runner, err := n.sandbox(ctx)
	if err != nil {
		return nil, err
	}
	prog, err := runner.Compile(ctx, wasm)
	if errors.Is(err, sandbox.ErrModule) {
		return deny("compute.module", err.Error())
	} else if err != nil {
		return nil, err
	}
	c, err := agreementPolicy(ag)
	if err != nil {
		return nil, err
	}
	consumer, err := n.registry.Participant(ctx, ag.Consumer)
	if notRegistered(err) {
		return deny("participant.registered", err.Error())
	} else if err != nil {
		return nil, err
	}
	self, err := n.registry.Participant(ctx, n.cfg.ParticipantID)
	if err != nil {
		return nil, err
	}
	ds, err := n.st.View(ctx).Dataset(ag.DatasetID)
	if err != nil {
		return nil, err
	}
	start, _ := ledger.ParseTime(ag.SignedAt)
	if policy.CrossBorder(self.Region, consumer.Region) {
		rec.LegalBasis = ag.LegalBasis // the ledger judges the run's flow with it
	}
	rules, err := n.spaceRules(ctx)
	if err != nil {
		return nil, err
	}
	req := policy.Request{Action: policy.ActionCompute, Purpose: ag.Purpose, Time: n.now(), AgreementStart: start,
		Uses: ag.Uses, Consumer: party(consumer), Dataset: datasetInfo(ds, self.Region), LegalBasis: ag.LegalBasis,
		Compute: &policy.Compute{Program: prog.Hash}}
	if n.approvedProgram(prog.Hash) {
		req.Compute.Approval = policy.ApprovalOperator
	}
	// The offer's policy decides, once before the run and once on its
	// result; the space's rules are asked again before each run as for a
	// transfer (a category negative-listed since stops it): under a
	// compute-only agreement they judge a flow that stays here.
	if d := policy.EvaluateWithRules(ctx, c, rules, req); !d.Allowed {
		return deny(d.Rule, d.Reason)
	}
	src, err := dpDatasets{n}.Dataset(ctx, ag.DatasetID)
	if err != nil {
		return nil, err
	}
	info, err := src.Source.Stat(ctx, "")
	if err != nil {
		return nil, err
	}
	in, err := src.Source.Open(ctx, "", dataplane.ByteRange{Length: info.Size})
	if err != nil {
		return nil, err
	}
	defer in.Close()
	res, err := runner.Run(ctx, prog, in, sandbox.Limits{OutputBytes: policy.ComputeOutputLimit(c)})
	if res != nil {
		rec.Compute.CPUMillis, rec.Compute.PeakMemory = res.CPU.Milliseconds(), int64(res.PeakMemory)
	}
	var le *sandbox.LimitError
	var ee *sandbox.ExitError
	switch {
	case errors.As(err, &le):
		return deny(le.Rule(), le.Error())
	case errors.As(err, &ee):
		return deny("compute.exit", ee.Error())
	case err != nil:
		return nil, err
	}
	rec.Compute.InputHash, rec.Compute.InputBytes = res.InputHash, res.InputBytes
	rec.Compute.OutputHash, rec.Compute.OutputBytes = res.OutputHash, int64(len(res.Output))
	shape := sandbox.Inspect(res.Output)
	req.Compute.Output = &policy.OutputFacts{Bytes: shape.Bytes, Rows: shape.Rows, Aggregate: shape.Aggregate, SmallestGroup: shape.SmallestGroup}
	if d := policy.Evaluate(ctx, c, req); !d.Allowed {
		return deny(d.Rule, d.Reason)
	}
	// Allowed: the run is a use. The result leaves only once the ledger has
	// accepted the record, which holds the use to the agreement's limit.
	rec.Bytes = int64(len(res.Output))
	if err := n.st.Update(ctx, func(tx *store.Tx) error { return n.lw.enqueue(tx, rec) }); err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, n.cfg.StrictTimeout)
	err = n.lw.wait(wctx, rec.ID)
	cancel()
	if errors.Is(err, ErrLedgerRefused) {
		rule, reason := refusal(err)
		return nil, refusedErr(rule, "the ledger refused the run: "+reason, "", "")
	}
	if err != nil {
		return nil, err
	}
	err = n.st.Update(ctx, func(tx *store.Tx) error {
		ag2, err := tx.Agreement(ag.ID)
		if err != nil {
			return err
		}
		ag2.Uses++
		return tx.PutAgreement(ag2)
	})
	if err != nil {
		return nil, err
	}
	return &computeResult{Result: res, run: run}, nil
}

// Compute submits a module to the provider of a consumer-side agreement and
// returns the result. A refusal is a *PeerError naming the provider's rule.
func (n *Node) Compute(ctx context.Context, agreementID string, wasm []byte) (*api.ComputeResult, error) {
	ag, err := n.st.View(ctx).Agreement(agreementID)
	if err != nil {
		return nil, err
	}
	if ag.Role != store.RoleConsumer {
		return nil, badRequest("agreement %s: this node is its %s; computations are submitted by the consumer", ag.ID, ag.Role)
	}
	url := joinURL(ag.ProviderURL, "/compute/"+ag.ID)
	ctx, cancel := context.WithTimeout(ctx, max(n.cfg.PeerTimeout, computeTimeout))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(wasm))
	if err != nil {
		return nil, fmt.Errorf("%w: bad provider URL %q: %v", errPermanent, url, err)
	}
	tok, err := n.peerToken(ag.Provider)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/wasm")
	// The peer client's own timeout is for DSP messages; a run (compiling,
	// then the program's CPU time) is bounded by ctx instead.
	hc := *n.peers.hc
	hc.Timeout = 0
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: POST %s: %w", ErrPeerUnreachable, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("connector: POST %s: read response: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		pe := &PeerError{Status: resp.StatusCode, URL: url}
		if e, err := dsp.DecodeErrorObject(bytes.NewReader(data)); err == nil {
			pe.Err = e
		}
		if resp.StatusCode >= 500 {
			return nil, fmt.Errorf("%w: %w", ErrPeerUnreachable, pe)
		}
		return nil, pe
	}
	cpu, _ := strconv.ParseInt(resp.Header.Get(headerComputeCPU), 10, 64)
	out := &api.ComputeResult{Run: resp.Header.Get(headerComputeRun), Program: resp.Header.Get(headerComputeProg),
		OutputHash: resp.Header.Get(headerComputeOutput), CPUMillis: cpu, Output: data}
	if h := sandbox.HashModuleWith(n.hashAlg(), data); h != out.OutputHash {
		return nil, fmt.Errorf("connector: the provider's result hashes to %s, its header says %s", h, out.OutputHash)
	}
	return out, nil
}

// computeTimeout bounds a run as the consumer waits for it.
const computeTimeout = 10 * time.Minute

// apiCompute is the consumer's management call: the module in the body
// (application/wasm), the result as JSON.
func (n *Node) apiCompute() http.Handler {
	return n.apiBody(maxModuleBytes, func(r *http.Request) (int, any, error) {
		wasm, err := io.ReadAll(r.Body)
		if err != nil {
			return 0, nil, badRequest("body: the module, at most %d bytes: %v", maxModuleBytes, err)
		}
		res, err := n.Compute(r.Context(), r.PathValue("id"), wasm)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, res, nil
	})
}
