package main

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/identity/dcp"
)

func newKeysDIDCmd() *cobra.Command {
	var key, did, dsp, cs string
	cmd := &cobra.Command{
		Use:   "did --key FILE --did did:web:HOST[:PATH] [--dsp URL] [--credential-service URL]",
		Short: "Print a node's did:web DID document (its key, DSP and CredentialService entries)",
		Long: `Prints the DID document to publish at the did:web's HTTPS address
(https://HOST/.well-known/did.json, or https://HOST/PATH/did.json). The node's
key is its verification method for authentication (presentations),
assertionMethod (credentials, for an issuer) and capabilityInvocation
(self-issued ID tokens, DCP 1.0 §4.3.3). --dsp adds the DataService entry of
its DSP endpoint, --credential-service the CredentialService entry that
verifiers query for its presentations.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if key == "" || did == "" {
				return errors.New("flags --key and --did: required")
			}
			k, err := identity.LoadKey(key)
			if err != nil {
				return err
			}
			var svc []dcp.Service
			if dsp != "" {
				svc = append(svc, dcp.Service{ID: "dsp", Type: dcp.ServiceDSP, ServiceEndpoint: dsp})
			}
			if cs != "" {
				svc = append(svc, dcp.Service{ID: "credential-service", Type: dcp.ServiceCredential, ServiceEndpoint: cs})
			}
			doc, err := dcp.NewDocument(did, k.JWK(), svc...)
			if err != nil {
				return err
			}
			return printJSON(cmd, doc)
		},
	}
	cmd.Flags().StringVar(&key, "key", "", "the node's private key file (keys generate)")
	cmd.Flags().StringVar(&did, "did", "", "the node's did:web")
	cmd.Flags().StringVar(&dsp, "dsp", "", "the node's DSP endpoint URL")
	cmd.Flags().StringVar(&cs, "credential-service", "", "the node's Credential Service base URL")
	cmd.Flags().StringP("output", "o", "json", "output format (json)")
	return cmd
}
