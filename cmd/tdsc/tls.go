package main

import (
	"crypto/tls"
	"errors"
	"net/http"
	"os"

	"github.com/spf13/cobra"

	"github.com/tdsc/tdsc/connector"
	"github.com/tdsc/tdsc/ledger/client"
)

// cliTLS is the TLS configuration of the CLI's calls: the system's roots
// plus the certificates in TDSC_TLS_CA_FILE (a space's own CA), if set.
func cliTLS() (*tls.Config, error) { return connector.ClientTLS(os.Getenv("TDSC_TLS_CA_FILE")) }

// newLedgerClient is client.New trusting cliTLS (or, for a node, the given
// configuration).
func newLedgerClient(url string, tc *tls.Config, opts ...client.Option) (*client.Client, error) {
	if tc == nil {
		var err error
		if tc, err = cliTLS(); err != nil {
			return nil, err
		}
	}
	if tc != nil {
		opts = append([]client.Option{client.WithHTTPClient(&http.Client{Transport: &http.Transport{TLSClientConfig: tc}})}, opts...)
	}
	return client.New(url, opts...)
}

// serverTLSFlags are --tls-cert and --tls-key of the ledger services.
type serverTLSFlags struct{ cert, key string }

func (f *serverTLSFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.cert, "tls-cert", "", "serve HTTPS with this certificate (PEM; with --tls-key); the dashboard's cookie is then Secure")
	cmd.Flags().StringVar(&f.key, "tls-key", "", "the certificate's private key (PEM)")
}

// load returns the server's TLS configuration, nil for plain HTTP.
func (f *serverTLSFlags) load() (*tls.Config, error) {
	if (f.cert == "") != (f.key == "") {
		return nil, errors.New("flags --tls-cert and --tls-key: give both (HTTPS) or neither (plain HTTP)")
	}
	return connector.Config{TLSCertFile: f.cert, TLSKeyFile: f.key}.ServerTLS()
}
