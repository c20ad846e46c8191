package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/identity/authority"
	"github.com/tdsc/tdsc/identity/dcp"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/policy"
)

// authorityDirFlag adds --dir, the directory made by "authority init".
func authorityDirFlag(cmd *cobra.Command, dir *string) {
	def := os.Getenv("TDSC_AUTHORITY_DIR")
	if def == "" {
		def = "authority"
	}
	cmd.Flags().StringVar(dir, "dir", def, "authority directory (authority.key, genesis.json); env TDSC_AUTHORITY_DIR")
}

func newAuthorityInitCmd() *cobra.Command {
	var dir, space, id, name, region, alg, suiteName string
	cmd := &cobra.Command{
		Use:   "init --dir DIR [--space ID] [--suite intl|gm]",
		Short: "Create a space: the authority key (0600) and the genesis that pins it",
		Long: `Creates DIR/authority.key (the authority's private key, mode 0600) and
DIR/genesis.json (space id, the authority participant with its public JWK,
creation time), and prints the genesis. Every ledger of the space is created
from this genesis ("tdsc ledger serve --genesis DIR/genesis.json") and accepts
participant and rules records only when signed by the key it pins.

--suite fixes the space's crypto suite for good: intl (Ed25519 or ES256,
SHA-256) or gm (SM2 with SM3, GB/T 32918 / GB/T 32905). Every key, token,
batch, checkpoint and hash of the space follows it; the ledger refuses the
other suite's keys, tokens and hashes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if space == "" {
				var b [4]byte
				_, _ = rand.Read(b[:])
				space = "space-" + hex.EncodeToString(b[:])
			}
			a, err := authority.Init(dir, authority.InitOptions{Space: space, ID: id, Name: name, Region: region, Alg: alg, Suite: suiteName})
			if err != nil {
				return err
			}
			return printJSON(cmd, a.Genesis())
		},
	}
	authorityDirFlag(cmd, &dir)
	cmd.Flags().StringVar(&space, "space", "", "space id (default: space-<random>)")
	cmd.Flags().StringVar(&id, "id", authority.DefaultID, "the authority's participant id")
	cmd.Flags().StringVar(&name, "name", "Space authority", "the authority's name")
	cmd.Flags().StringVar(&region, "region", "CN", "the authority's region code")
	cmd.Flags().StringVar(&alg, "alg", "", "key algorithm within the suite: EdDSA (intl default) or ES256; gm: SM3withSM2")
	cmd.Flags().StringVar(&suiteName, "suite", "intl", "the space's crypto suite: intl or gm")
	cmd.Flags().StringP("output", "o", "json", "output format (json)")
	return cmd
}

// ledgerFlags say where the authority's batches go.
type ledgerFlags struct {
	url, dir string
	dryRun   bool
}

func (f *ledgerFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.url, "ledger", os.Getenv("TDSC_LEDGER"), "ledger service URL, e.g. http://127.0.0.1:7070; env TDSC_LEDGER")
	cmd.Flags().StringVar(&f.dir, "ledger-dir", "", "append directly to an embedded ledger directory not held by a running service")
	cmd.Flags().BoolVar(&f.dryRun, "dry-run", false, "print the signed batch instead of appending it")
}

// submit signs recs as one authority batch and appends it (or prints it with --dry-run).
func (f *ledgerFlags) submit(cmd *cobra.Command, a *authority.Authority, recs ...ledger.Record) error {
	if f.dryRun {
		b, err := a.Batch(recs...)
		if err != nil {
			return err
		}
		return printJSON(cmd, b)
	}
	l, closeFn, err := openAuthorityLedger(cmd.Context(), f, a.Genesis())
	if err != nil {
		return err
	}
	defer closeFn()
	rc, err := a.Submit(cmd.Context(), l, recs...)
	if err != nil {
		return err
	}
	return printJSON(cmd, rc)
}

// current reads a participant as the ledger holds it now.
func (f *ledgerFlags) current(ctx context.Context, a *authority.Authority, id string) (identity.Participant, error) {
	l, closeFn, err := openAuthorityLedger(ctx, f, a.Genesis())
	if err != nil {
		return identity.Participant{}, err
	}
	defer closeFn()
	p, err := l.Participant(ctx, id)
	if err != nil {
		return identity.Participant{}, fmt.Errorf("read participant %q from the ledger: %w", id, err)
	}
	return p, nil
}

func readJWK(path string) (identity.JWK, error) {
	var k identity.JWK
	data, err := os.ReadFile(path)
	if err != nil {
		return k, fmt.Errorf("flag --jwk: %w", err)
	}
	if err := json.Unmarshal(data, &k); err != nil {
		return k, fmt.Errorf("flag --jwk: %s is not a JWK: %v", path, err)
	}
	if _, ok := jsonHasPrivate(data); ok {
		return k, fmt.Errorf("flag --jwk: %s holds a private key (field d): give the public JWK printed by keys generate", path)
	}
	if err := k.Validate(); err != nil {
		return k, fmt.Errorf("flag --jwk: %w", err)
	}
	return k, nil
}

func jsonHasPrivate(data []byte) (string, bool) {
	var m map[string]any
	if json.Unmarshal(data, &m) != nil {
		return "", false
	}
	d, ok := m["d"].(string)
	return d, ok
}

func newAuthorityRegisterCmd() *cobra.Command {
	var (
		dir, jwkFile, didDoc string
		r                    authority.Registration
		lf                   ledgerFlags
	)
	cmd := &cobra.Command{
		Use:   "register --id ID --name NAME --jwk FILE --region CODE --industry X --org-type Y [--credit-code USCC] [--did did:web:...] --ledger URL",
		Short: "Register a participant: writes participant.registered, signed by the authority",
		Args:  cobra.NoArgs,
		Long: `Registers a participant on the ledger. A participant that speaks only the
Decentralized Claims Protocol joins with its DID: --did-document names its DID
document (as tdsc keys did prints it, or as fetched from its did:web), whose
capabilityInvocation key becomes its registered key (it signs its DPoP proofs
on the data plane with it); its id is then its DID, and the ledger names it so
in every record (docs/security.md).`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var k identity.JWK
			var err error
			switch {
			case jwkFile != "" && didDoc != "":
				return errors.New("flags --jwk and --did-document: give one (the key, or the DID document holding it)")
			case didDoc != "":
				if k, err = didDocumentKey(didDoc, r.DID); err != nil {
					return err
				}
				if r.ID == "" {
					r.ID = r.DID
				}
			case jwkFile == "":
				return errors.New("flag --jwk: required, the participant's public JWK file (tdsc keys generate prints it), or --did --did-document for a DID participant")
			default:
				if k, err = readJWK(jwkFile); err != nil {
					return err
				}
			}
			r.Key = k
			a, err := authority.Open(dir)
			if err != nil {
				return err
			}
			rec, err := a.Register(r)
			if err != nil {
				return err
			}
			return lf.submit(cmd, a, rec)
		},
	}
	authorityDirFlag(cmd, &dir)
	f := cmd.Flags()
	f.StringVar(&r.ID, "id", "", "participant id")
	f.StringVar(&r.Name, "name", "", "participant name")
	f.StringVar(&jwkFile, "jwk", "", "file with the participant's public JWK")
	f.StringVar(&r.Region, "region", "", "region code, e.g. CN-BJ")
	f.StringVar(&r.Industry, "industry", "", "industry, e.g. finance, healthcare, government")
	f.StringVar(&r.OrgType, "org-type", "", "organisation type, e.g. government, enterprise, institution")
	f.StringVar(&r.CreditCode, "credit-code", "", "unified social credit code (18 characters, GB 32100-2015)")
	f.StringSliceVar(&r.Member, "member", nil, "memberships (comma-separated)")
	f.StringVar(&r.DID, "did", "", "the participant's did:web, when it also speaks DCP (optional)")
	f.StringVar(&didDoc, "did-document", "", "a DID participant's DID document file (with --did; its key is registered, its id defaults to the DID)")
	lf.add(cmd)
	return cmd
}

// didDocumentKey reads the DID document of did from file and returns the key
// it signs DCP ID tokens with (capabilityInvocation), with its RFC 7638
// thumbprint as kid, as the ledger registers keys.
func didDocumentKey(file, did string) (identity.JWK, error) {
	if did == "" {
		return identity.JWK{}, errors.New("flag --did: required with --did-document (the DID the document must be about)")
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return identity.JWK{}, fmt.Errorf("flag --did-document: %w", err)
	}
	doc, err := dcp.ParseDocument(b, did)
	if err != nil {
		return identity.JWK{}, fmt.Errorf("flag --did-document: %w", err)
	}
	k, err := doc.Key("", dcp.CapabilityInvocation)
	if err != nil {
		return identity.JWK{}, fmt.Errorf("flag --did-document: %w", err)
	}
	pub, err := k.PublicKey()
	if err != nil {
		return identity.JWK{}, fmt.Errorf("flag --did-document: %w", err)
	}
	return identity.NewJWK(pub)
}

func newAuthoritySuspendCmd() *cobra.Command {
	var (
		dir, id   string
		reinstate bool
		lf        ledgerFlags
	)
	cmd := &cobra.Command{
		Use:   "suspend --id ID --ledger URL [--reinstate]",
		Short: "Suspend (or reinstate) a participant: writes participant.updated",
		Long: `Reads the participant from the ledger and writes participant.updated with
status suspended (or active with --reinstate). Verifiers refuse every token the
participant signs once their registry sees the record (within its cache TTL).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if id == "" {
				return errors.New("flag --id: required")
			}
			a, err := authority.Open(dir)
			if err != nil {
				return err
			}
			cur, err := lf.current(cmd.Context(), a, id)
			if err != nil {
				return err
			}
			var rec ledger.Record
			if reinstate {
				rec, err = a.Reinstate(cur)
			} else {
				rec, err = a.Suspend(cur)
			}
			if err != nil {
				return err
			}
			return lf.submit(cmd, a, rec)
		},
	}
	authorityDirFlag(cmd, &dir)
	cmd.Flags().StringVar(&id, "id", "", "participant id")
	cmd.Flags().BoolVar(&reinstate, "reinstate", false, "make the participant active again")
	lf.add(cmd)
	return cmd
}

func newAuthorityUpdateCmd() *cobra.Command {
	var (
		dir, id    string
		addJWK     []string
		removeKids []string
		lf         ledgerFlags
	)
	cmd := &cobra.Command{
		Use:   "update --id ID [--name N] [--region R] [--industry X] [--org-type Y] [--credit-code C] [--did D] [--add-jwk FILE] [--remove-kid KID] --ledger URL",
		Short: "Change a participant's attributes or keys: writes participant.updated",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if id == "" {
				return errors.New("flag --id: required")
			}
			var c authority.Change
			f := cmd.Flags()
			for flag, dst := range map[string]**string{
				"name": &c.Name, "region": &c.Region, "industry": &c.Industry, "org-type": &c.OrgType, "credit-code": &c.CreditCode, "did": &c.DID,
			} {
				if f.Changed(flag) {
					v, _ := f.GetString(flag)
					*dst = &v
				}
			}
			if f.Changed("member") {
				m, _ := f.GetStringSlice("member")
				c.Member = &m
			}
			for _, path := range addJWK {
				k, err := readJWK(path)
				if err != nil {
					return err
				}
				c.AddKeys = append(c.AddKeys, k)
			}
			c.RemoveKeys = removeKids
			a, err := authority.Open(dir)
			if err != nil {
				return err
			}
			cur, err := lf.current(cmd.Context(), a, id)
			if err != nil {
				return err
			}
			rec, err := a.Update(cur, c)
			if err != nil {
				return err
			}
			return lf.submit(cmd, a, rec)
		},
	}
	authorityDirFlag(cmd, &dir)
	f := cmd.Flags()
	f.StringVar(&id, "id", "", "participant id")
	f.String("name", "", "new name")
	f.String("region", "", "new region code")
	f.String("industry", "", "new industry")
	f.String("org-type", "", "new organisation type")
	f.String("credit-code", "", "new unified social credit code")
	f.String("did", "", "new did:web (empty removes it)")
	f.StringSlice("member", nil, "new memberships (replaces the list)")
	f.StringArrayVar(&addJWK, "add-jwk", nil, "register another public key (JWK file); repeatable")
	f.StringArrayVar(&removeKids, "remove-kid", nil, "remove the key with this kid; repeatable")
	lf.add(cmd)
	return cmd
}

func newAuthorityRulesCmd() *cobra.Command {
	rules := &cobra.Command{Use: "rules", Short: "Space-wide rules: negative list, cross-border white-list, ceilings"}
	var (
		dir string
		lf  ledgerFlags
	)
	set := &cobra.Command{
		Use:   "set FILE --ledger URL",
		Short: "Replace the space rules with FILE (JSON or YAML): writes rules.updated",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			r, err := policy.ParseSpaceRules(data)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			a, err := authority.Open(dir)
			if err != nil {
				return err
			}
			rec, err := a.SetRules(r)
			if err != nil {
				return err
			}
			return lf.submit(cmd, a, rec)
		},
	}
	authorityDirFlag(set, &dir)
	lf.add(set)
	rules.AddCommand(set)
	return rules
}

func newAuthorityTokenCmd() *cobra.Command {
	var (
		dir, role, subject, aud string
		scope                   []string
		ttl                     time.Duration
	)
	cmd := &cobra.Command{
		Use:   "token --role auditor|regulator --subject ID --ttl D [--aud ledger] [--scope S]",
		Short: "Issue an auditor or regulator role token, signed by the authority",
		Long: `Prints a role token for the subject. The ledger service and the dashboards
verify it against the authority key pinned at genesis. Treat it as a secret:
store it in a file and pass the file, never on a command line.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := authority.Open(dir)
			if err != nil {
				return err
			}
			tok, err := a.RoleToken(strings.ToLower(role), subject, aud, scope, ttl)
			if err != nil {
				return err
			}
			if o, _ := cmd.Flags().GetString("output"); o == "json" {
				return printJSON(cmd, map[string]any{"token": tok, "role": role, "subject": subject, "aud": aud,
					"expires": time.Now().Add(ttl).UTC().Format(time.RFC3339)})
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), tok)
			return err
		},
	}
	authorityDirFlag(cmd, &dir)
	cmd.Flags().StringVar(&role, "role", "", "auditor or regulator")
	cmd.Flags().StringVar(&subject, "subject", "", "who the token is for")
	cmd.Flags().StringVar(&aud, "aud", "ledger", "the service the token is for")
	cmd.Flags().StringSliceVar(&scope, "scope", nil, "scopes (comma-separated), e.g. records,flows")
	cmd.Flags().DurationVar(&ttl, "ttl", 24*time.Hour, "validity, e.g. 24h (at most 2160h)")
	cmd.Flags().StringP("output", "o", "text", "output format: text (the token) or json")
	return cmd
}
