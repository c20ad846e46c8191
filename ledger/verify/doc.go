// Package verify re-checks a whole ledger from its stored bytes, trusting
// nothing but the genesis and the checkpoint verifier key: every record
// decodes strictly and hashes to the leaf the tree holds, every batch root
// and signature verifies under the writer's key as registered at that point,
// the rulebook replays from genesis without a refusal, and the rebuilt tree
// matches every signed checkpoint. Ledger pulls a whole Source; a Verifier
// takes batches and checkpoints (or tree heads a reader computed itself) as
// a reader pushes them, holding the rulebook's state and the tree's right
// edge, not the records.
package verify
