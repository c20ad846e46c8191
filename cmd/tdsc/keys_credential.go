package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/identity/dcp"
)

func newKeysCredentialCmd() *cobra.Command {
	var key, did, issuer, addr, out string
	var wait time.Duration
	var tf serverTLSFlags
	cmd := &cobra.Command{
		Use:   "credential --key FILE --did did:web:HOST[:PATH] --issuer did:web:AUTHORITY --addr HOST:PORT --tls-cert FILE --tls-key FILE --out FILE",
		Short: "Obtain a node's membership credential from the authority's DCP Issuer Service",
		Long: `Joins with a DID: once the authority registered the node's DID on the
ledger ("tdsc authority register --did --did-document"), this asks the
authority's Issuer Service (the IssuerService entry of --issuer's DID
document) for the membership credential, with a self-issued ID token signed by
--key. The issuer delivers it to the node's Credential Service, so for the
time it waits (--wait) this command serves the node's DID document and
Credential Service at --addr over HTTPS (the address --did names, before the
node itself runs there), then writes the credential to --out (mode 0600) for
the node's credentialFiles. The authority's DID document is fetched trusting
the system roots and TDSC_TLS_CA_FILE. A running node can instead keep its
credential itself (config credentialIssuer: it requests one, renews it, and
acts on the authority's offers; docs/operations.md).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if key == "" || did == "" || issuer == "" || out == "" {
				return errors.New("flags --key, --did, --issuer and --out: required")
			}
			tc, err := tf.load()
			if err != nil {
				return err
			}
			if tc == nil {
				return errors.New("flags --tls-cert and --tls-key: required, the issuer reaches the Credential Service over HTTPS only")
			}
			k, err := identity.LoadKey(key)
			if err != nil {
				return err
			}
			ctc, err := cliTLS()
			if err != nil {
				return err
			}
			hc := &http.Client{Timeout: 10 * time.Second}
			if ctc != nil {
				hc.Transport = &http.Transport{TLSClientConfig: ctc}
			}
			node, err := dcp.NewNode(dcp.NodeConfig{DID: did, Key: k, Space: "-", Trusted: []string{issuer}, HTTPClient: hc})
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return err
			}
			srv := &http.Server{Handler: node.Handler(), TLSConfig: tc, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}
			go func() { _ = srv.ServeTLS(ln, "", "") }()
			defer func() {
				sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_ = srv.Shutdown(sctx)
			}()
			ctx, cancel := context.WithTimeout(cmd.Context(), wait)
			defer cancel()
			req, err := node.RequestCredential(ctx, issuer)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "requested at %s; waiting for the delivery\n", req.Location)
			// The delivery comes to the Credential Service; a rejection of a
			// DID the ledger does not register comes through the status API
			// only, asked every second.
			t := time.NewTicker(100 * time.Millisecond)
			defer t.Stop()
			for i := 1; ; i++ {
				got, _ := node.Credentials.Request(req.HolderPid)
				switch got.Status {
				case dcp.StatusIssued:
					vcs := node.Credentials.Stored(dcp.TypeMembership)
					return os.WriteFile(out, []byte(vcs[len(vcs)-1]+"\n"), 0o600)
				case dcp.StatusRejected:
					return fmt.Errorf("the issuer %s rejected the request: %s", issuer, got.Reason)
				}
				if i%10 == 0 {
					if st, err := node.IssuanceStatus(ctx, req); err == nil && st.Status == dcp.StatusRejected {
						return fmt.Errorf("the issuer %s rejected the request: %s", issuer, st.RejectionReason)
					}
				}
				select {
				case <-ctx.Done():
					return fmt.Errorf("flag --wait: no credential delivered within %v (request %s)", wait, req.Location)
				case <-t.C:
				}
			}
		},
	}
	cmd.Flags().StringVar(&key, "key", "", "the node's private key file (its DID document's key)")
	cmd.Flags().StringVar(&did, "did", "", "the node's did:web, as the ledger registers it")
	cmd.Flags().StringVar(&issuer, "issuer", "", "the authority's did:web")
	cmd.Flags().StringVar(&addr, "addr", "", "where to serve the node's DID document and Credential Service meanwhile (the address --did names)")
	cmd.Flags().StringVar(&out, "out", "", "write the credential JWT to this file (mode 0600)")
	cmd.Flags().DurationVar(&wait, "wait", 30*time.Second, "how long to wait for the issuer's delivery")
	tf.add(cmd)
	return cmd
}
