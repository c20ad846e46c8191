package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// newIdentityCmd is `tdsc identity`: how the node identifies itself, and
// the state of its DCP credentials.
func newIdentityCmd() *cobra.Command {
	var o apiOpts
	cmd := &cobra.Command{
		Use:   "identity",
		Short: "Show the node's identity: participant id, DID, the credentials it holds and their renewal",
		Long: `Shows the node's participant id and, when it speaks DCP (config did), its DID,
the issuers it trusts, the verifiable credentials it holds (issuer, types,
validity, whether an issuer delivered it or the configuration names it) and,
with credentialIssuer set, what its keeper last did: when it last renewed the
membership credential and why, or why the last request failed
(GET /api/v1/identity).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			id, err := c.Identity(cmd.Context())
			if err != nil {
				return err
			}
			if o.output == "json" {
				return printJSON(cmd, id)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "participant: %s\n", id.ParticipantID)
			if id.DID == "" {
				fmt.Fprintln(w, "did:         none (the node speaks tdsc tokens only)")
				return nil
			}
			fmt.Fprintf(w, "did:         %s\ntrusts:      %s\n", id.DID, strings.Join(id.TrustedIssuers, ", "))
			if k := id.Keeper; k != nil {
				switch {
				case k.Error != "":
					fmt.Fprintf(w, "keeper:      from %s; last request failed at %s (%s): %s\n", k.Issuer, k.Failed, k.Reason, k.Error)
				case k.Renewed != "":
					fmt.Fprintf(w, "keeper:      from %s; renewed %s at %s (%s)\n", k.Issuer, k.Credential, k.Renewed, k.Reason)
				default:
					fmt.Fprintf(w, "keeper:      from %s; nothing requested yet\n", k.Issuer)
				}
			}
			fmt.Fprintln(w)
			rows := make([][]string, 0, len(id.Credentials))
			for _, c := range id.Credentials {
				from := "configuration"
				if c.Delivered {
					from = "delivered"
				}
				until := c.ValidUntil
				if c.Expired {
					until += " (expired)"
				}
				rows = append(rows, []string{c.ID, c.Issuer, strings.Join(c.Types, ","), c.ValidFrom, until, from})
			}
			return printOut(w, &o, nil, []string{"CREDENTIAL", "ISSUER", "TYPES", "VALID FROM", "VALID UNTIL", "FROM"}, rows)
		},
	}
	addAPIFlags(cmd, &o)
	return cmd
}
