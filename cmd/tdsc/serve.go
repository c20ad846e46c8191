package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/tdsc/tdsc/connector"
	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/ledger/client"
)

// loadServeConfig reads the YAML file (unknown keys refused), applies the
// TDSC_* environment over it and validates the result.
func loadServeConfig(path string) (connector.Config, error) {
	cfg := connector.DefaultConfig()
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("config: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil {
			return cfg, fmt.Errorf("config %s: %w", path, err)
		}
	}
	if err := cfg.ApplyEnv(os.LookupEnv); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

func newServeCmd() *cobra.Command {
	var configFile string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a connector node: DSP endpoint, management API (/api/v1/), data plane (/data/)",
		Long: `Runs one connector node from a YAML config (every key also settable from the
environment as TDSC_<KEY>, e.g. TDSC_LISTEN=127.0.0.1:8181). The ledger is the
ledger service at ledgerUrl, or an embedded ledger in ledgerDir (created from
genesisFile). The management API's token comes from operatorTokenFile or
TDSC_OPERATOR_TOKEN. Stops cleanly on SIGINT/SIGTERM; pending steps and
outbox records resume on the next start.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			log := slog.New(slog.NewTextHandler(os.Stderr, nil))
			cfg, err := loadServeConfig(configFile)
			if err != nil {
				return err
			}
			key, err := identity.LoadKey(cfg.KeyFile)
			if err != nil {
				return err
			}
			serverTLS, err := cfg.ServerTLS()
			if err != nil {
				return err
			}
			clientTLS, err := cfg.ClientTLS()
			if err != nil {
				return err
			}
			iss, err := identity.NewIssuer(cfg.ParticipantID, key)
			if err != nil {
				return err
			}
			led, closeLedger, err := openLedger(ctx, ledgerSource{URL: cfg.LedgerURL, Dir: cfg.LedgerDir, GenesisFile: cfg.GenesisFile,
				URLFlag: "config: ledgerUrl", DirFlag: "ledgerDir", TLS: clientTLS, Logger: log,
				Client: []client.Option{client.WithTokenSource(func(ctx context.Context) (string, error) {
					return iss.RoleToken(identity.RoleParticipant, cfg.ParticipantID, "ledger", nil, 5*time.Minute)
				})}})
			if err != nil {
				return err
			}
			defer closeLedger()
			reg := prometheus.NewRegistry()
			reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
			node, err := connector.New(ctx, cfg, connector.WithKey(key), connector.WithLedger(led),
				connector.WithParticipants(led), connector.WithRules(led), connector.WithRegisteredDatasets(led),
				connector.WithLogger(log), connector.WithMetrics(reg))
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", cfg.Listen)
			if err != nil {
				node.Close(context.Background())
				return err
			}
			mux := http.NewServeMux()
			mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
			mux.Handle("/", node.Handler())
			srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
				IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10, TLSConfig: serverTLS}
			log.Info("connector serving", "participant", cfg.ParticipantID, "listen", ln.Addr().String(), "publicUrl", node.PublicURL(), "dataDir", cfg.DataDir)
			errc := make(chan error, 1)
			go func() {
				if serverTLS != nil {
					errc <- srv.ServeTLS(ln, "", "")
					return
				}
				errc <- srv.Serve(ln)
			}()
			select {
			case err = <-errc:
			case <-ctx.Done():
			}
			sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			serr := srv.Shutdown(sctx)
			cerr := node.Close(sctx)
			if err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return errors.Join(serr, cerr)
		},
	}
	cmd.Flags().StringVar(&configFile, "config", "", "YAML config file (keys as in docs/connector.md; TDSC_* environment overrides)")
	return cmd
}
