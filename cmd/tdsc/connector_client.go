package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/go-resty/resty/v2"
	"github.com/spf13/cobra"
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

// apiClient talks to a node's management API (/api/v1/).
type apiClient struct {
	r *resty.Client
}

func (o *apiOpts) client() (*apiClient, error) {
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
	r := resty.New().SetBaseURL(strings.TrimRight(o.api, "/")+"/api/v1").SetAuthToken(tok).
		SetTimeout(6*time.Minute).SetHeader("Accept", "application/json")
	tc, err := cliTLS()
	if err != nil {
		return nil, fmt.Errorf("TDSC_TLS_CA_FILE: %w", err)
	}
	if tc != nil {
		r.SetTLSClientConfig(tc)
	}
	return &apiClient{r: r}, nil
}

// apiError is the management API's error body.
type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// call sends one request; out receives the JSON answer.
func (c *apiClient) call(ctx context.Context, method, path string, body, out any) error {
	req := c.r.R().SetContext(ctx)
	if body != nil {
		req.SetBody(body)
	}
	resp, err := req.Execute(method, path)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.IsError() {
		var e apiError
		if json.Unmarshal(resp.Body(), &e) == nil && e.Error.Message != "" {
			return fmt.Errorf("%s (%s)", e.Error.Message, e.Error.Code)
		}
		return fmt.Errorf("%s %s: HTTP %d: %.300s", method, path, resp.StatusCode(), resp.Body())
	}
	if out != nil {
		return json.Unmarshal(resp.Body(), out)
	}
	return nil
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
