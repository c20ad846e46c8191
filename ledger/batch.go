package ledger

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/transparency-dev/merkle/compact"

	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/suite"
)

// Batch is what a writer appends: its records, the RFC 6962 root over their
// leaf hashes, and one signature over BatchMessage. The root is the batch's id.
type Batch struct {
	Space     string   `json:"space"`
	Writer    string   `json:"writer"`
	KeyID     string   `json:"keyId"`
	Records   []Record `json:"records"`
	Root      string   `json:"root"`      // hex SHA-256 or SM3, the space's suite
	Signature string   `json:"signature"` // base64url, no padding
}

// Receipt is what a backend returns for a committed batch: where its records
// landed in the ledger's tree and the tree size that covers them.
type Receipt struct {
	BatchRoot  string   `json:"batchRoot"`
	FirstIndex uint64   `json:"firstIndex"`
	TreeSize   uint64   `json:"treeSize"`
	RecordIDs  []string `json:"recordIds"`
}

// LeafHash is the RFC 6962 leaf hash of the record's canonical encoding,
// with suite s's hash.
func LeafHash(s *suite.Suite, r *Record) ([]byte, error) {
	c, err := r.Canonical()
	if err != nil {
		return nil, err
	}
	return s.Merkle().HashLeaf(c), nil
}

// MerkleRoot is the RFC 6962 root over leaf hashes, in order, with suite s's hash.
func MerkleRoot(s *suite.Suite, leaves [][]byte) []byte {
	if len(leaves) == 0 {
		return s.Merkle().EmptyRoot()
	}
	rf := compact.RangeFactory{Hash: s.Merkle().HashChildren}
	r := rf.NewEmptyRange(0)
	for _, l := range leaves {
		_ = r.Append(l, nil) // cannot fail for a range starting at 0
	}
	root, _ := r.GetRootHash(nil)
	return root
}

// BatchMessage is the domain-separated byte string a writer signs.
func BatchMessage(space, writer, kid, root string, count int) []byte {
	return fmt.Appendf(nil, "tdsc-batch-v1\nspace=%s\nwriter=%s\nkid=%s\nroot=%s\ncount=%d\n", space, writer, kid, root, count)
}

// NewBatch builds and signs a batch of recs with key on behalf of writer.
// It validates every record first, so a batch it returns is well-formed. The
// tree is hashed with the key's suite (an SM2 key lives in a gm space).
func NewBatch(space, writer string, key *identity.Key, recs []Record) (*Batch, error) {
	b := &Batch{Space: space, Writer: writer, KeyID: key.KeyID(), Records: recs}
	if err := b.Validate(); err != nil {
		return nil, err
	}
	s := key.JWK().Suite()
	leaves, err := b.Leaves(s)
	if err != nil {
		return nil, err
	}
	b.Root = hex.EncodeToString(MerkleRoot(s, leaves))
	sig, err := key.SignDetached(BatchMessage(b.Space, b.Writer, b.KeyID, b.Root, len(recs)))
	if err != nil {
		return nil, fmt.Errorf("ledger: sign batch: %w", err)
	}
	b.Signature = base64.RawURLEncoding.EncodeToString(sig)
	return b, nil
}

// Canonical returns the canonical encoding of every record, in order.
func (b *Batch) Canonical() ([][]byte, error) {
	canon := make([][]byte, len(b.Records))
	for i := range b.Records {
		c, err := b.Records[i].Canonical()
		if err != nil {
			return nil, malformed(RuleJSON, fmt.Sprintf("records[%d]", i), b.Records[i].ID, "%v", err)
		}
		canon[i] = c
	}
	return canon, nil
}

// Encode returns the canonical encoding and leaf hash (suite s) of every
// record, in order, refusing a record past the size limit.
func (b *Batch) Encode(s *suite.Suite) (canon, leaves [][]byte, err error) {
	if canon, err = b.Canonical(); err != nil {
		return nil, nil, err
	}
	h := s.Merkle()
	leaves = make([][]byte, len(canon))
	for i, c := range canon {
		if err := checkSize(fmt.Sprintf("records[%d]", i), b.Records[i].ID, c); err != nil {
			return nil, nil, err
		}
		leaves[i] = h.HashLeaf(c)
	}
	return canon, leaves, nil
}

// Leaves are the leaf hashes (suite s) of the batch's records, in order.
func (b *Batch) Leaves(s *suite.Suite) ([][]byte, error) {
	_, leaves, err := b.Encode(s)
	return leaves, err
}

// CheckRoot recomputes the root from the records and compares it with Root,
// returning the records' canonical encodings and leaf hashes (see Encode). A
// mismatch is ErrBadSignature: the records are not the ones signed.
func (b *Batch) CheckRoot(s *suite.Suite) (canon, leaves [][]byte, err error) {
	canon, leaves, err = b.Encode(s)
	if err != nil {
		return nil, nil, err
	}
	if got := hex.EncodeToString(MerkleRoot(s, leaves)); got != b.Root {
		return nil, nil, &FieldError{Err: ErrBadSignature, Rule: RuleBatchRoot, Field: "root", Reason: fmt.Sprintf("records hash to %s, batch says %s", got, b.Root)}
	}
	return canon, leaves, nil
}

// VerifySignature checks the batch signature under the writer's key.
func (b *Batch) VerifySignature(key identity.JWK) error {
	sig, err := base64.RawURLEncoding.DecodeString(b.Signature)
	if err != nil {
		return &FieldError{Err: ErrBadSignature, Rule: RuleBatchSignature, Field: "signature", Reason: "not base64url: " + err.Error()}
	}
	if err := key.VerifyDetached(BatchMessage(b.Space, b.Writer, b.KeyID, b.Root, len(b.Records)), sig); err != nil {
		return &FieldError{Err: ErrBadSignature, Rule: RuleBatchSignature, Field: "signature", Reason: fmt.Sprintf("does not verify under key %s of %s", b.KeyID, b.Writer)}
	}
	return nil
}

// Validate checks the batch's own fields, its size limits and every record's
// schema (not the signature: see CheckRoot and VerifySignature).
func (b *Batch) Validate() error {
	if err := checkID("space", b.Space, "", true); err != nil {
		return err
	}
	if err := checkID("writer", b.Writer, "", true); err != nil {
		return err
	}
	if b.KeyID == "" {
		return malformed(RuleRequired, "keyId", "", "must not be empty")
	}
	if len(b.Records) == 0 {
		return malformed(RuleRequired, "records", "", "a batch needs at least one record")
	}
	if len(b.Records) > MaxBatchRecords {
		return malformed(RuleSize, "records", "", "%d records exceeds the limit of %d per batch", len(b.Records), MaxBatchRecords)
	}
	seen := make(map[string]int, len(b.Records))
	for i := range b.Records {
		r := &b.Records[i]
		if err := r.Validate(); err != nil {
			if me, ok := err.(*MalformedError); ok {
				me.Field = fmt.Sprintf("records[%d].%s", i, me.Field)
			}
			return err
		}
		if j, dup := seen[r.ID]; dup {
			return &RuleError{Rule: "record.id-unique", Field: fmt.Sprintf("records[%d].id", i), RecordID: r.ID,
				Reason: fmt.Sprintf("id also used by records[%d] of the same batch", j)}
		}
		seen[r.ID] = i
	}
	return nil
}

// DecodeBatch decodes a batch strictly (see DecodeRecord) and checks its
// shape: limits, required fields, every record's schema, hex root and a
// base64url signature. It does not check the signature; backends do.
func DecodeBatch(data []byte) (*Batch, error) {
	if len(data) > MaxBatchBytes {
		return nil, malformed(RuleSize, "batch", "", "%d bytes exceeds the limit of %d", len(data), MaxBatchBytes)
	}
	var b Batch
	if err := strictUnmarshal(data, &b); err != nil {
		return nil, malformed(RuleJSON, "batch", "", "%v", err)
	}
	if err := b.Validate(); err != nil {
		return nil, err
	}
	if r, err := hex.DecodeString(b.Root); err != nil || len(r) != 32 {
		return nil, malformed(RuleFormat, "root", "", "must be 64 hex digits")
	}
	if _, err := identity.DecodeBase64URL(b.Signature); err != nil || b.Signature == "" {
		return nil, malformed(RuleFormat, "signature", "", "must be canonical base64url (no padding, no line breaks)")
	}
	return &b, nil
}

// StoredBatch is a committed batch as a backend holds it, for verifiers: the
// signed header, the records' stored bytes, and the leaf hashes the ledger's
// tree holds for them, at FirstIndex onwards.
type StoredBatch struct {
	Space      string            `json:"space"`
	Writer     string            `json:"writer"`
	KeyID      string            `json:"keyId"`
	Root       string            `json:"root"`
	Signature  string            `json:"signature"`
	FirstIndex uint64            `json:"firstIndex"`
	TreeSize   uint64            `json:"treeSize"`
	Records    []json.RawMessage `json:"records"`
	Leaves     [][]byte          `json:"leaves"`
}
