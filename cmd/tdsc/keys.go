package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tdsc/tdsc/identity"
)

func newKeysGenerateCmd() *cobra.Command {
	var out, alg string
	cmd := &cobra.Command{
		Use:   "generate --out FILE [--alg EdDSA|ES256]",
		Short: "Generate a participant key (file mode 0600) and print its public JWK with kid",
		Long: `Writes a new private key as PKCS#8 PEM with mode 0600 (refusing to overwrite)
and prints the public JWK, whose kid is its RFC 7638 thumbprint. Give the JWK
to the authority for "tdsc authority register --jwk FILE".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return fmt.Errorf("flag --out: required, the file to write the private key to")
			}
			var k *identity.Key
			var err error
			switch alg {
			case "EdDSA", "Ed25519":
				k, err = identity.GenerateEd25519()
			case "ES256":
				k, err = identity.GenerateES256()
			default:
				return fmt.Errorf("flag --alg: must be EdDSA or ES256, got %q", alg)
			}
			if err != nil {
				return err
			}
			if err := k.Save(out); err != nil {
				return err
			}
			return printJWK(cmd, k.JWK())
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "file to write the private key to (mode 0600)")
	cmd.Flags().StringVar(&alg, "alg", "EdDSA", "key algorithm: EdDSA (Ed25519) or ES256 (P-256)")
	cmd.Flags().StringP("output", "o", "json", "output format (json)")
	return cmd
}

func newKeysPublicCmd() *cobra.Command {
	var key string
	cmd := &cobra.Command{
		Use:   "public --key FILE",
		Short: "Print the public JWK (with kid) of a private key file",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if key == "" {
				return fmt.Errorf("flag --key: required")
			}
			k, err := identity.LoadKey(key)
			if err != nil {
				return err
			}
			return printJWK(cmd, k.JWK())
		},
	}
	cmd.Flags().StringVar(&key, "key", "", "private key file written by keys generate")
	cmd.Flags().StringP("output", "o", "json", "output format (json)")
	return cmd
}

func printJWK(cmd *cobra.Command, k identity.JWK) error {
	enc := json.NewEncoder(cmd.OutOrStdout())
	enc.SetIndent("", "  ")
	return enc.Encode(k)
}
