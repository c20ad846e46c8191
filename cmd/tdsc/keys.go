package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/identity/authority"
	"github.com/tdsc/tdsc/suite"
)

func newKeysGenerateCmd() *cobra.Command {
	var out, alg, suiteName, genesis string
	cmd := &cobra.Command{
		Use:   "generate --out FILE [--genesis FILE | --suite intl|gm] [--alg EdDSA|ES256]",
		Short: "Generate a participant key (file mode 0600) and print its public JWK with kid",
		Long: `Writes a new private key as PKCS#8 PEM with mode 0600 (refusing to overwrite)
and prints the public JWK, whose kid is its RFC 7638 thumbprint. Give the JWK
to the authority for "tdsc authority register --jwk FILE".

The key follows the space's crypto suite, read from its genesis (--genesis) or
named (--suite): intl gives Ed25519 (or ES256 with --alg ES256), gm gives SM2
(JWK kty EC, crv SM2, alg SM3withSM2, kid the SM3 thumbprint).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return fmt.Errorf("flag --out: required, the file to write the private key to")
			}
			cs, err := suite.Lookup(suiteName)
			if err != nil {
				return fmt.Errorf("flag --suite: %w", err)
			}
			if genesis != "" {
				g, err := authority.ReadGenesis(genesis)
				if err != nil {
					return err
				}
				if suiteName != "" && g.CryptoSuite() != cs {
					return fmt.Errorf("flag --suite: %s, but the genesis %s says %s", cs, genesis, g.CryptoSuite())
				}
				cs = g.CryptoSuite()
			}
			if alg == "Ed25519" {
				alg = suite.AlgEdDSA
			}
			if alg != "" && !cs.AllowsAlg(alg) {
				return fmt.Errorf("flag --alg: the %s suite signs with %v, got %q", cs, cs.Algorithms(), alg)
			}
			k, err := identity.Generate(cs, alg)
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
	cmd.Flags().StringVar(&alg, "alg", "", "key algorithm within the suite: EdDSA (Ed25519, the intl default) or ES256 (P-256); gm has only SM3withSM2")
	cmd.Flags().StringVar(&suiteName, "suite", "", "the space's crypto suite: intl (default) or gm")
	cmd.Flags().StringVar(&genesis, "genesis", "", "the space's genesis.json: the key follows its suite")
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
