package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/tdsc/tdsc/connector/client"
)

// apiOpts are the flags every operator command takes.
type apiOpts struct {
	api       string
	tokenFile string
	output    string
}

func addAPIFlags(cmd *cobra.Command, o *apiOpts) {
	def := os.Getenv("TDSC_API")
	if def == "" {
		def = "http://127.0.0.1:8181"
	}
	cmd.Flags().StringVar(&o.api, "api", def, "the node's base URL (env TDSC_API)")
	cmd.Flags().StringVar(&o.tokenFile, "token-file", os.Getenv("TDSC_OPERATOR_TOKEN_FILE"), "file holding the operator token (or env TDSC_OPERATOR_TOKEN)")
	cmd.Flags().StringVarP(&o.output, "output", "o", "table", "output: table or json")
}

func (o *apiOpts) client() (*client.Client, error) {
	tok := os.Getenv("TDSC_OPERATOR_TOKEN")
	if o.tokenFile != "" {
		b, err := os.ReadFile(o.tokenFile)
		if err != nil {
			return nil, fmt.Errorf("--token-file: %w", err)
		}
		tok = strings.TrimSpace(string(b))
	}
	if tok == "" {
		return nil, fmt.Errorf("no operator token: pass --token-file or set TDSC_OPERATOR_TOKEN")
	}
	tc, err := cliTLS()
	if err != nil {
		return nil, fmt.Errorf("TDSC_TLS_CA_FILE: %w", err)
	}
	var opts []client.Option
	if tc != nil {
		opts = append(opts, client.WithTLS(tc))
	}
	c, err := client.New(o.api, tok, opts...)
	if err != nil {
		return nil, fmt.Errorf("--api: %w", err)
	}
	return c, nil
}

// printOut prints v as JSON, or the rows as a table.
func printOut(w io.Writer, o *apiOpts, v any, header []string, rows [][]string) error {
	if o.output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	if o.output != "table" {
		return fmt.Errorf("-o: %q: use table or json", o.output)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

func short(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}
