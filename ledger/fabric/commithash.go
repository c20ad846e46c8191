package fabric

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// The validation flags of a block are written by each peer after ordering,
// into metadata no signature covers: a peer could mark a valid transaction
// invalid and so hide its batches from the audit. But every peer also
// chains a commit hash over them (core/ledger/kvledger addBlockCommitHash):
// for each block after the genesis block, SHA-256 over the flags (length
// first), the block's state updates in a deterministic form (the valid
// transactions' writes, public and hashed, each key's last write with the
// height that wrote it; deterministicBytesForPubAndHashUpdates) and the
// previous block's commit hash. The audit recomputes that chain from the
// flags and transactions it reads and holds each block's COMMIT_HASH to it:
// flags altered without the commit hashes are caught at their block; flags
// and commit hashes altered together give a last commit hash that no
// honest peer holds, which comparing with other organisations' peers
// (ComparePeers) catches.

// commitHasher is a peer's commit hash chain, recomputed block by block.
type commitHasher struct{ last []byte }

// stateUpdates are a block's state updates: by namespace and collection
// ("" for the public keys; a collection's keys are hashes), each key's
// last write.
type stateUpdates map[nsColl]map[string]stateWrite

// nsColl is a namespace and one of its collections ("": its public keys).
type nsColl struct{ ns, coll string }

// stateWrite is a key's last write in a block: its value (nil for a
// delete) and the index in the block of the transaction that wrote it
// (with the block's number, the height Fabric versions the key with).
type stateWrite struct {
	value []byte
	tx    uint64
}

// block recomputes block b's commit hash from its flags and the writes
// of the transactions they mark valid, checks it against the block's
// COMMIT_HASH metadata, and takes it as the chain's last.
func (c *commitHasher) block(b *common.Block, flags []byte, valid func(int) bool, decoded []txRW) error {
	sum, err := c.next(b, flags, valid, decoded)
	if err != nil {
		return err
	}
	got, err := blockCommitHash(b)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, sum) {
		return fmt.Errorf("its commit hash %x is not the %x its validation flags and valid transactions' writes give: the flags (or the writes) were altered after the peer committed the block", got, sum)
	}
	c.last = sum
	return nil
}

// next is block b's commit hash after the chain's last, from its flags
// and the writes of the transactions they mark valid: decoded[i], if the
// walk decoded transaction i already, else read from the block.
func (c *commitHasher) next(b *common.Block, flags []byte, valid func(int) bool, decoded []txRW) ([]byte, error) {
	updates := stateUpdates{}
	for i, env := range b.Data.Data {
		if !valid(i) {
			continue
		}
		rw := txRW(nil)
		if i < len(decoded) {
			rw = decoded[i]
		}
		if rw == nil {
			var err error
			if rw, err = envelopeRW(env); err != nil {
				return nil, fmt.Errorf("transaction %d: %v", i, err)
			}
		}
		if err := rw.apply(uint64(i), updates); err != nil {
			return nil, fmt.Errorf("transaction %d: %v", i, err)
		}
	}
	h := sha256.New()
	h.Write(protowire.AppendVarint(nil, uint64(len(flags))))
	h.Write(flags)
	writeUpdates(h, b.Header.Number, updates)
	h.Write(c.last)
	return h.Sum(nil), nil
}

// blockCommitHash is the commit hash the peer wrote into b's metadata.
func blockCommitHash(b *common.Block) ([]byte, error) {
	if len(b.GetMetadata().GetMetadata()) <= int(common.BlockMetadataIndex_COMMIT_HASH) {
		return nil, errors.New("no commit hash metadata")
	}
	var md common.Metadata
	if err := proto.Unmarshal(b.Metadata.Metadata[common.BlockMetadataIndex_COMMIT_HASH], &md); err != nil {
		return nil, fmt.Errorf("commit hash metadata: %v", err)
	}
	if len(md.Value) == 0 {
		return nil, errors.New("no commit hash in its metadata")
	}
	return md.Value, nil
}

// txRW is the writes of a transaction's read-write sets: each namespace's
// public writes, and each of its collections' hashed writes.
type txRW []nsWrites

// nsWrites is one namespace's public writes (coll "") or one of its
// collections' hashed writes (as KVWrites: the key hash as the key, the
// value hash as the value), with any writes of keys' metadata.
type nsWrites struct {
	ns, coll string
	writes   []*kvrwset.KVWrite
	meta     []*kvrwset.KVMetadataWrite
}

// decodeRW reads a chaincode action's results (a TxReadWriteSet).
func decodeRW(results []byte) (txRW, error) {
	var txrw rwset.TxReadWriteSet
	if err := proto.Unmarshal(results, &txrw); err != nil {
		return nil, fmt.Errorf("read-write set: %w", err)
	}
	out := txRW{}
	for _, ns := range txrw.NsRwset {
		var kv kvrwset.KVRWSet
		if err := proto.Unmarshal(ns.Rwset, &kv); err != nil {
			return nil, fmt.Errorf("namespace %s: writes: %w", ns.Namespace, err)
		}
		out = append(out, nsWrites{ns: ns.Namespace, writes: kv.Writes, meta: kv.MetadataWrites})
		for _, coll := range ns.CollectionHashedRwset {
			var hs kvrwset.HashedRWSet
			if err := proto.Unmarshal(coll.HashedRwset, &hs); err != nil {
				return nil, fmt.Errorf("namespace %s, collection %s: hashed writes: %w", ns.Namespace, coll.CollectionName, err)
			}
			cw := nsWrites{ns: ns.Namespace, coll: coll.CollectionName}
			for _, w := range hs.HashedWrites {
				v := w.ValueHash
				if bytes.Equal(v, emptyHash[:]) {
					v = nil // a hashed write of the empty value is a delete
				}
				cw.writes = append(cw.writes, &kvrwset.KVWrite{Key: string(w.KeyHash), Value: v, IsDelete: w.IsDelete})
			}
			for _, mw := range hs.MetadataWrites {
				cw.meta = append(cw.meta, &kvrwset.KVMetadataWrite{Key: string(mw.KeyHash), Entries: mw.Entries})
			}
			out = append(out, cw)
		}
	}
	return out, nil
}

// envelopeRW reads the writes of every action of endorser transaction
// env; another transaction (a configuration) has none the commit hash
// counts.
func envelopeRW(env []byte) (txRW, error) {
	t, err := readEndorserTx(env)
	if err != nil || t == nil {
		return txRW{}, err
	}
	return t.writes(), nil
}

// apply adds the writes to updates as the peer's validator applies a
// valid transaction's write set, at index tx of its block: a write of an
// empty value is a delete, a later write of a key replaces an earlier
// one. A write of a key's metadata cannot be replayed without the state
// database, and is refused.
func (rw txRW) apply(tx uint64, updates stateUpdates) error {
	for _, ns := range rw {
		if len(ns.meta) > 0 {
			where := "namespace " + ns.ns
			if ns.coll != "" {
				where += ", collection " + ns.coll
			}
			return fmt.Errorf("%s: writes a key's metadata, which the audit cannot replay into the peers' commit hash", where)
		}
		g := updates[nsColl{ns.ns, ns.coll}]
		if g == nil && len(ns.writes) > 0 {
			g = map[string]stateWrite{}
			updates[nsColl{ns.ns, ns.coll}] = g
		}
		for _, w := range ns.writes {
			v := w.Value
			if w.IsDelete || len(v) == 0 {
				v = nil
			}
			g[w.Key] = stateWrite{value: v, tx: tx}
		}
	}
	return nil
}

// emptyHash is the hash of an empty value: a hashed write of it is a
// delete (rwsetutil.IsKVWriteHashDelete).
var emptyHash = sha256.Sum256(nil)

// writeUpdates writes Fabric's deterministic form of a block's state
// updates to w (txmgr.Updates, marshalled; deterministicBytesForPubAndHashUpdates):
// the writes as KVWrite messages, namespaces in order (the
// configuration's, "", left out), within one the public keys in order and
// then each collection's in order, the namespace named on its first write
// only and a collection on its first.
func writeUpdates(w io.Writer, block uint64, updates stateUpdates) {
	groups := slices.SortedFunc(maps.Keys(updates), func(a, b nsColl) int {
		if a.ns != b.ns {
			return cmp.Compare(a.ns, b.ns)
		}
		return cmp.Compare(a.coll, b.coll) // "" (public) first
	})
	var ns string
	first := true
	var kv, out []byte
	height := orderPreserving(block)
	for _, g := range groups {
		if g.ns == "" {
			continue
		}
		namedColl := false
		for _, key := range slices.Sorted(maps.Keys(updates[g])) {
			kv = kv[:0]
			if first || g.ns != ns {
				kv = protowire.AppendTag(kv, 1, protowire.BytesType)
				kv = protowire.AppendString(kv, g.ns)
				ns, first = g.ns, false
			}
			if g.coll != "" && !namedColl {
				kv = protowire.AppendTag(kv, 2, protowire.BytesType)
				kv = protowire.AppendString(kv, g.coll)
				namedColl = true
			}
			if key != "" {
				kv = protowire.AppendTag(kv, 3, protowire.BytesType)
				kv = protowire.AppendString(kv, key)
			}
			sw := updates[g][key]
			if sw.value == nil {
				kv = protowire.AppendTag(kv, 4, protowire.VarintType)
				kv = protowire.AppendVarint(kv, 1)
			} else {
				kv = protowire.AppendTag(kv, 5, protowire.BytesType)
				kv = protowire.AppendBytes(kv, sw.value)
			}
			tx := orderPreserving(sw.tx)
			kv = protowire.AppendTag(kv, 6, protowire.BytesType)
			kv = protowire.AppendVarint(kv, uint64(len(height)+len(tx)))
			kv = append(append(kv, height...), tx...)
			out = protowire.AppendTag(out[:0], 1, protowire.BytesType)
			out = protowire.AppendVarint(out, uint64(len(kv)))
			w.Write(out)
			w.Write(kv)
		}
	}
}

// orderPreserving is Fabric's EncodeOrderPreservingVarUint64: the number's
// big-endian bytes without leading zeros, after one byte of their count.
func orderPreserving(n uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], n)
	i := 0
	for i < 8 && b[i] == 0 {
		i++
	}
	return append([]byte{byte(8 - i)}, b[i:]...)
}

// PeerCommit is what one organisation's peer holds as the commit hash of
// a block: Agrees, if it is the audit's, or Error, if the peer did not
// give one.
type PeerCommit struct {
	MSPID      string `json:"mspId"`
	CommitHash string `json:"commitHash,omitempty"`
	Agrees     bool   `json:"agrees"`
	// Height is the peer's block height when asked: above the audited
	// chain's, the peer holds blocks the audit did not read (written since,
	// or held back by the peer that served the audit).
	Height uint64 `json:"height,omitempty"`
	Error  string `json:"error,omitempty"`
}

// ComparePeers asks the peer of each organisation of p — connecting to it
// directly (its address and TLS root in the profile), as ch's client, not
// through ch's gateway, which could answer for the others — for its height
// and the commit hash of the last block the audit c read, and holds that
// to the audit's (c.CommitHash). The commit hash chains every block's
// validation flags and state updates, so a peer that agrees holds the
// same flags and writes for every block up to it: a peer that served the
// audit altered flags (and rewrote its commit hashes to match) is
// outvoted by the others. A peer that holds another is a *ChainProblem at
// that block naming it; one that is away or behind is reported with its
// error, not as disagreeing.
func ComparePeers(ctx context.Context, ch *Channel, p *Profile, c ChainCounts) ([]PeerCommit, error) {
	last := c.Blocks - 1
	out := make([]PeerCommit, len(p.Orgs))
	var why []string
	for i, o := range p.Orgs {
		out[i].MSPID = o.MSPID
		got, h, err := ch.peerCommit(ctx, o, last)
		out[i].Height = h
		if err != nil {
			out[i].Error = err.Error()
			continue
		}
		out[i].CommitHash = hex.EncodeToString(got)
		out[i].Agrees = out[i].CommitHash == c.CommitHash
		if !out[i].Agrees {
			why = append(why, fmt.Sprintf("%s's peer holds %s", o.MSPID, out[i].CommitHash))
		}
	}
	if len(why) > 0 {
		return out, &ChainProblem{Block: last, What: fmt.Sprintf("the peers disagree on the validation flags or state updates up to this block: the audited chain gives commit hash %s, %s", c.CommitHash, strings.Join(why, ", "))}
	}
	return out, nil
}

// peerCommit asks org's peer itself, as c's client, for its height and
// block's commit hash.
func (c *Channel) peerCommit(ctx context.Context, org Org, block uint64) ([]byte, uint64, error) {
	conn, err := dial(org)
	if err != nil {
		return nil, 0, err
	}
	defer conn.Close()
	gw, err := connect(conn, c.id, c.sign, 30*time.Second)
	if err != nil {
		return nil, 0, fmt.Errorf("fabric: gateway: %w", err)
	}
	defer gw.Close()
	at := &Channel{name: c.name, conn: conn, gw: gw, network: gw.GetNetwork(c.name), id: c.id, sign: c.sign}
	h, err := at.Height(ctx)
	if err != nil {
		return nil, 0, err
	}
	b, err := at.Block(ctx, block)
	if err != nil {
		return nil, h, err
	}
	got, err := blockCommitHash(b)
	return got, h, err
}

// ComparePeers is ComparePeers as the ledger's client, over its profile's
// organisations.
func (l *Ledger) ComparePeers(ctx context.Context, c ChainCounts) ([]PeerCommit, error) {
	return ComparePeers(ctx, l.ch, l.cfg.Profile, c)
}
