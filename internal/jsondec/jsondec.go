// Package jsondec decodes JSON exactly as encoding/json does — the same
// values, the same refusals (keys matched without regard to case, the last
// of duplicate keys kept, invalid UTF-8 replaced), its error texts save that
// a path names the element ("Batch.records.0.schema") — in about a third
// less CPU: it is github.com/go-json-experiment/json/v1, encoding/json's
// behaviour on the encoding/json/v2 decoder, the implementation Go 1.27's
// encoding/json is itself built on. Once the module's Go is 1.27 this
// package can become encoding/json and go.
//
// The hot decoders use it: records and batches (ledger.DecodeRecord,
// DecodeBatch, DecodeCanonical), the chaincode's Append payload, the Fabric
// follower's and audit's event payloads, the embedded store's reads and its
// audit. Encoding stays with encoding/json: a record's canonical bytes are
// its json.Marshal, hashed into the tree and signed. Fuzz targets in those
// packages hold the decoders to encoding/json's answers on any input
// (FuzzStrictMatchesEncodingJSON, FuzzAppendArg,
// FuzzEventDecodeMatchesEncodingJSON).
package jsondec

import (
	"io"

	json "github.com/go-json-experiment/json/v1"
)

// RawMessage is a raw encoded JSON value, as encoding/json's.
type RawMessage = json.RawMessage

// Decoder reads JSON values from a stream, as encoding/json's.
type Decoder = json.Decoder

// Unmarshal is encoding/json's Unmarshal.
func Unmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }

// NewDecoder is encoding/json's NewDecoder.
func NewDecoder(r io.Reader) *Decoder { return json.NewDecoder(r) }
