// Package embedded is the default ledger backend: one directory holding a
// bbolt file (ledger.db) and the ledger's checkpoint key (ledger.key, 0600,
// with its public verifier key in ledger.vkey).
//
// Durability. Each group commit is one bbolt read-write transaction: the
// batches it holds, their records, indexes, Merkle tree nodes and a new signed
// checkpoint are written together, and bbolt fsyncs the data pages and then
// the meta page before Commit returns. Append returns a Receipt only after
// that fsync, so a receipt is never lost; a kill -9 at any other moment leaves
// the previous transaction's state: a valid prefix of whole batches, never a
// torn one. Concurrent Append calls are coalesced into one transaction (up to
// Options.MaxGroup batches, waiting at most Options.MaxWait for more), so one
// fsync covers many batches.
//
// Proofs. The store keeps every complete node of the RFC 6962 tree over all
// records (github.com/transparency-dev/merkle), so inclusion and consistency
// proofs are a few point reads. Checkpoints are C2SP signed notes
// (transparency-dev/formats/log body, golang.org/x/mod/sumdb/note Ed25519
// signature) with origin "tdsc/ledger/<space>".
//
// State. The rulebook's state (participants, rules, datasets, agreements,
// transfers, objections, the key index) is kept in bbolt buckets and written
// by the same transaction as the records that change it, so after a crash it
// reflects exactly the committed records; record ids are answered from the
// id index the records keep. Open reads no records: it checks that the state
// reflects the ledger's size and, for a ledger written by an earlier version
// (or appended to by one since), rebuilds it once by replaying the records.
// tdsc audit verify still derives the state from the records alone.
package embedded
