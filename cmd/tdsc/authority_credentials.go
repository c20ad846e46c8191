package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/identity/authority"
	"github.com/tdsc/tdsc/identity/dcp"
	"github.com/tdsc/tdsc/internal/atomicfile"
	"github.com/tdsc/tdsc/ledger"
)

// credentialsFile is DIR/credentials.json: the authority as a DCP credential
// issuer (its did:web) and what it issued.
type credentialsFile struct {
	DID   string          `json:"did"`
	State json.RawMessage `json:"state,omitempty"`
}

// openIssuer reads DIR/credentials.json; did, when set, must match it or
// starts the file.
func openIssuer(dir, did string) (*authority.Authority, *dcp.CredentialIssuer, error) {
	a, err := authority.Open(dir)
	if err != nil {
		return nil, nil, err
	}
	var f credentialsFile
	data, err := os.ReadFile(filepath.Join(dir, "credentials.json"))
	switch {
	case errors.Is(err, os.ErrNotExist):
		if did == "" {
			return nil, nil, errors.New("flag --did: required the first time, the authority's did:web (e.g. did:web:authority.example.com)")
		}
		f.DID = did
	case err != nil:
		return nil, nil, err
	default:
		if err := json.Unmarshal(data, &f); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", filepath.Join(dir, "credentials.json"), err)
		}
		if did != "" && did != f.DID {
			return nil, nil, fmt.Errorf("flag --did: %q, but this authority issues as %q (%s)", did, f.DID, filepath.Join(dir, "credentials.json"))
		}
	}
	base, err := dcp.WebBase(f.DID)
	if err != nil {
		return nil, nil, fmt.Errorf("flag --did: %w", err)
	}
	var state []byte
	if len(f.State) > 0 {
		state = f.State
	}
	ci, err := dcp.NewCredentialIssuer(dcp.IssuerConfig{DID: f.DID, Key: a.Key(), Space: a.Genesis().Space, StatusURL: base + dcp.StatusPath}, state)
	return a, ci, err
}

// saveIssuer writes DIR/credentials.json atomically and durably (synced
// before it replaces the old file): it holds the status list.
func saveIssuer(dir string, ci *dcp.CredentialIssuer) error {
	st, err := ci.State()
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(credentialsFile{DID: ci.DID(), State: st}, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, "credentials.json"), b, 0o600)
}

// registrySource reads participants through the authority's ledger flags.
type registrySource struct {
	lf *ledgerFlags
	a  *authority.Authority
}

func (s registrySource) Participant(ctx context.Context, id string) (identity.Participant, error) {
	return s.read(ctx, func(l authorityLedger) (identity.Participant, error) { return l.Participant(ctx, id) })
}

// ParticipantByDID finds the participant the ledger registers under did
// with another id (dcp.DIDSource), from the ledger's DID index: the
// embedded store and the ledger service keep every participant's DID there.
func (s registrySource) ParticipantByDID(ctx context.Context, did string) (identity.Participant, error) {
	return s.read(ctx, func(l authorityLedger) (identity.Participant, error) {
		ix, ok := l.(dcp.DIDSource)
		if !ok {
			return identity.Participant{}, fmt.Errorf("%w: this ledger cannot be searched by DID", identity.ErrUnknownParticipant)
		}
		return ix.ParticipantByDID(ctx, did)
	})
}

// read runs get on the authority's ledger, opened for the call; a
// participant the ledger does not hold is identity.ErrUnknownParticipant.
func (s registrySource) read(ctx context.Context, get func(authorityLedger) (identity.Participant, error)) (identity.Participant, error) {
	l, closeFn, err := openAuthorityLedger(ctx, s.lf, s.a.Genesis())
	if err != nil {
		return identity.Participant{}, err
	}
	defer closeFn()
	p, err := get(l)
	if errors.Is(err, ledger.ErrNotFound) {
		err = fmt.Errorf("%w: %w", identity.ErrUnknownParticipant, err)
	}
	return p, err
}

func newAuthorityCredentialsCmd() *cobra.Command {
	root := &cobra.Command{Use: "credentials", Short: "DCP verifiable credentials: issue, list, revoke, reconcile with the ledger, serve the status list"}
	var dir, did string
	var lf ledgerFlags
	flags := func(c *cobra.Command, ledger bool) *cobra.Command {
		authorityDirFlag(c, &dir)
		c.Flags().StringVar(&did, "did", "", "the authority's did:web (required the first time; kept in DIR/credentials.json)")
		if ledger {
			lf.add(c)
		}
		return c
	}
	var id, out, reason string
	issue := flags(&cobra.Command{
		Use:   "issue --id PARTICIPANT --ledger URL [--did did:web:AUTHORITY] [--out FILE]",
		Short: "Issue a membership credential stating what the ledger registers of a participant with a DID",
		Long: `Reads the participant from the ledger (it must be active and name its DID:
"tdsc authority register --did" or "update --did"), signs a JWT verifiable
credential (VC Data Model 2.0, DCP profile vc20-bssl/jwt) with the authority
key whose subject is that DID and whose claims are the registered attributes,
gives it an entry in the authority's revocation status list, and prints it
(or writes it to --out, mode 0600) for the participant's Credential Service.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if id == "" {
				return errors.New("flag --id: required, the participant to issue to")
			}
			a, ci, err := openIssuer(dir, did)
			if err != nil {
				return err
			}
			p, err := lf.current(cmd.Context(), a, id)
			if err != nil {
				return err
			}
			if p.DID == "" {
				return fmt.Errorf("participant %q has no did on the ledger: set it with tdsc authority update --id %s --did did:web:<host>", id, id)
			}
			ic, err := ci.Issue(p)
			if err != nil {
				return err
			}
			if err := saveIssuer(dir, ci); err != nil {
				return err
			}
			if out != "" {
				return os.WriteFile(out, []byte(ic.JWT+"\n"), 0o600)
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), ic.JWT)
			return err
		},
	}, true)
	issue.Flags().StringVar(&id, "id", "", "participant id")
	issue.Flags().StringVar(&out, "out", "", "write the credential JWT to this file (mode 0600)")

	list := flags(&cobra.Command{
		Use:   "list [--id PARTICIPANT] [-o json]",
		Short: "List the credentials the authority issued and whether they are revoked",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, ci, err := openIssuer(dir, did)
			if err != nil {
				return err
			}
			cs := ci.Credentials(id)
			if o, _ := cmd.Flags().GetString("output"); o == "json" {
				return printJSON(cmd, cs)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tPARTICIPANT\tDID\tINDEX\tVALID UNTIL\tREVOKED")
			for _, c := range cs {
				rev := "-"
				if c.Revoked {
					rev = c.Reason
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%s\n", c.ID, c.Participant, c.DID, c.Index, c.ValidUntil.Format(time.RFC3339), rev)
			}
			return w.Flush()
		},
	}, false)
	list.Flags().StringVar(&id, "id", "", "only this participant's credentials")
	list.Flags().StringP("output", "o", "text", "output format: text or json")

	var credID string
	revoke := flags(&cobra.Command{
		Use:   "revoke --credential ID [--reason TEXT]",
		Short: "Revoke a credential: sets its bit in the status list the authority serves",
		Long: `Revokes one credential for good. To take a participant out of the space,
suspend it on the ledger ("tdsc authority suspend"); "credentials reconcile"
(and "credentials serve" on every tick) then revokes all its credentials, so
that the ledger and the status list agree.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if credID == "" {
				return errors.New("flag --credential: required (tdsc authority credentials list shows the ids)")
			}
			_, ci, err := openIssuer(dir, did)
			if err != nil {
				return err
			}
			if reason == "" {
				reason = "revoked by the authority"
			}
			if err := ci.Revoke(credID, reason); err != nil {
				return err
			}
			return saveIssuer(dir, ci)
		},
	}, false)
	revoke.Flags().StringVar(&credID, "credential", "", "credential id (urn:uuid:...)")
	revoke.Flags().StringVar(&reason, "reason", "", "why, kept in the authority's records")

	reconcile := flags(&cobra.Command{
		Use:   "reconcile --ledger URL",
		Short: "Revoke every credential of a participant the ledger shows suspended or changed",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, ci, err := openIssuer(dir, did)
			if err != nil {
				return err
			}
			revoked, err := ci.Reconcile(cmd.Context(), registrySource{lf: &lf, a: a})
			if err != nil {
				return err
			}
			if err := saveIssuer(dir, ci); err != nil {
				return err
			}
			return printJSON(cmd, map[string]any{"revoked": revoked})
		},
	}, true)

	var addr string
	var every time.Duration
	var tf serverTLSFlags
	var allowed []string
	serve := flags(&cobra.Command{
		Use:   "serve --addr HOST:PORT --tls-cert FILE --tls-key FILE [--ledger URL] [--reconcile 30s]",
		Short: "Serve the authority's DID document, revocation status list and DCP Issuer Service over HTTPS",
		Long: `Serves the authority's did:web document (its key for assertionMethod) and
the signed BitstringStatusListCredential at <did base>` + dcp.StatusPath + `.
With --ledger it reconciles the list with the ledger every --reconcile
(re-reading DIR/credentials.json first, so credentials issued or revoked by
other commands meanwhile are kept): a suspension on the ledger reaches the
status list within that interval, and verifiers within their cache TTL more.

With --ledger it also serves the DCP Issuer Service (DCP 1.0 §6) at
<did base>` + issuerServicePath + ` and names it in the DID document (IssuerService):
GET /metadata, POST /credentials (a holder's CredentialRequestMessage with its
self-issued ID token) and GET /requests/{id}. A request is granted only for a
participant the ledger registers under the requesting DID and shows active;
the credential goes to the holder's Credential Service and into
DIR/credentials.json. When a reconcile revokes the credential of a participant
still active (its ledger entry changed), the holder is sent a
CredentialOfferMessage: a node with credentialIssuer set requests again. Holders' DID documents are fetched over HTTPS trusting
the system roots and TDSC_TLS_CA_FILE.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tc, err := tf.load()
			if err != nil {
				return err
			}
			if tc == nil {
				return errors.New("flags --tls-cert and --tls-key: required, did:web documents are resolved over HTTPS only")
			}
			a, ci, err := openIssuer(dir, did)
			if err != nil {
				return err
			}
			if err := saveIssuer(dir, ci); err != nil { // the first run starts the file with --did
				return err
			}
			base, _ := dcp.WebBase(ci.DID())
			bu, _ := url.Parse(base)
			docURL, _ := dcp.WebURL(ci.DID())
			du, _ := url.Parse(docURL)
			fi := &fileIssuer{dir: dir, cur: ci}
			mux := http.NewServeMux()
			mux.Handle(bu.Path+dcp.StatusPath, http.StripPrefix(bu.Path, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				fi.current().Handler().ServeHTTP(w, r)
			})))
			var svc []dcp.Service
			var is *dcp.IssuerService
			ledger := lf.url != "" || lf.dir != ""
			if ledger {
				reqs, err := dcp.OpenRequestLog(filepath.Join(dir, issuanceRequestsFile), 0)
				if err != nil {
					return err
				}
				defer reqs.Close()
				is, err = newIssuerService(a, fi, registrySource{lf: &lf, a: a}, base+issuerServicePath, dcp.Hosts(allowed), reqs)
				if err != nil {
					return err
				}
				defer func() {
					cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel()
					_ = is.Close(cctx)
				}()
				mux.Handle(bu.Path+issuerServicePath+"/", http.StripPrefix(bu.Path+issuerServicePath, is.Handler()))
				svc = append(svc, is.ServiceEntry())
			}
			doc, err := dcp.NewDocument(ci.DID(), a.Key().JWK(), svc...)
			if err != nil {
				return err
			}
			mux.Handle(du.Path, dcp.DocumentHandler(doc))
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return err
			}
			srv := &http.Server{Handler: mux, TLSConfig: tc, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}
			go func() { _ = srv.ServeTLS(ln, "", "") }()
			what := "its status list"
			if ledger {
				what += " and Issuer Service"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "serving %s, %s on https://%s\n", ci.DID(), what, ln.Addr())
			// The reconcile loop writes DIR/credentials.json: the command
			// returns only once it has stopped.
			reconciled := make(chan struct{})
			if !ledger {
				close(reconciled)
			} else {
				go func() {
					defer close(reconciled)
					t := time.NewTicker(every)
					defer t.Stop()
					for {
						select {
						case <-ctx.Done():
							return
						case <-t.C:
						}
						var revoked []string
						err := fi.update(func(ci *dcp.CredentialIssuer) (err error) {
							revoked, err = ci.Reconcile(ctx, registrySource{lf: &lf, a: a})
							return err
						})
						if err != nil {
							slog.Error("credentials: reconcile with the ledger", "err", err)
							continue
						}
						if len(revoked) > 0 {
							slog.Info("credentials: revoked after the ledger", "credentials", revoked)
							// Holders still active get an offer of a credential
							// stating their ledger entry as it is now.
							offered, err := is.Reoffer(ctx, revoked)
							if len(offered) > 0 {
								slog.Info("credentials: offered new credentials", "holders", offered)
							}
							if err != nil {
								slog.Warn("credentials: offers not delivered", "err", err)
							}
						}
					}
				}()
			}
			<-ctx.Done()
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err = srv.Shutdown(sctx)
			<-reconciled
			return err
		},
	}, true)
	serve.Flags().StringVar(&addr, "addr", "127.0.0.1:8443", "listen address")
	serve.Flags().DurationVar(&every, "reconcile", 30*time.Second, "how often to reconcile the status list with the ledger")
	serve.Flags().StringSliceVar(&allowed, "allowed-hosts", nil, "hosts of holders' DID documents and Credential Services the Issuer Service may reach (host, host:port, *.domain; default any)")
	tf.add(serve)

	root.AddCommand(issue, list, revoke, reconcile, serve)
	return root
}

// issuerServicePath is where serve mounts the Issuer Service, under the
// authority's did:web base address.
const issuerServicePath = "/issuer"

// issuanceRequestsFile, in the authority's directory, keeps the Issuer
// Service's credential requests across restarts (dcp.RequestLog).
const issuanceRequestsFile = "issuance-requests.jsonl"

// newIssuerService is the authority's DCP Issuer Service at endpoint,
// reaching holders with the CLI's TLS roots (TDSC_TLS_CA_FILE), keeping
// its requests in reqs.
func newIssuerService(a *authority.Authority, fi *fileIssuer, src identity.Source, endpoint string, hosts dcp.Hosts, reqs dcp.RequestStore) (*dcp.IssuerService, error) {
	tc, err := cliTLS()
	if err != nil {
		return nil, err
	}
	hc := &http.Client{Timeout: 10 * time.Second}
	if tc != nil {
		hc.Transport = &http.Transport{TLSClientConfig: tc}
	}
	res, err := dcp.NewResolver(dcp.WithHTTPClient(hc), dcp.WithAllowedHosts(hosts))
	if err != nil {
		return nil, err
	}
	return dcp.NewIssuerService(dcp.IssuerServiceConfig{DID: fi.current().DID(), Key: a.Key(), Issuer: fi, Ledger: src, Endpoint: endpoint,
		Resolver: res, HTTPClient: hc, AllowedHosts: hosts, Requests: reqs, Log: slog.Default()})
}

// fileIssuer is the issuer serve works with: every change re-reads
// DIR/credentials.json and saves it after, under one lock, so that the
// Issuer Service, the reconcile tick and other commands' edits (issue,
// revoke) all land in the file.
type fileIssuer struct {
	dir string
	mu  sync.Mutex
	cur *dcp.CredentialIssuer
}

func (f *fileIssuer) current() *dcp.CredentialIssuer {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cur
}

// update applies fn to the issuer as the file holds it now and saves it; an
// error from fn leaves the file as it was.
func (f *fileIssuer) update(fn func(*dcp.CredentialIssuer) error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, fresh, err := openIssuer(f.dir, "")
	if err != nil {
		return fmt.Errorf("re-read %s: %w", filepath.Join(f.dir, "credentials.json"), err)
	}
	if err := fn(fresh); err != nil {
		return err
	}
	if err := saveIssuer(f.dir, fresh); err != nil {
		return err
	}
	f.cur = fresh
	return nil
}

func (f *fileIssuer) Issue(p identity.Participant) (ic dcp.IssuedCredential, err error) {
	err = f.update(func(ci *dcp.CredentialIssuer) error { ic, err = ci.Issue(p); return err })
	return ic, err
}

func (f *fileIssuer) Revoke(id, reason string) error {
	return f.update(func(ci *dcp.CredentialIssuer) error { return ci.Revoke(id, reason) })
}

func (f *fileIssuer) Credentials(participant string) []dcp.IssuedCredential {
	return f.current().Credentials(participant)
}
