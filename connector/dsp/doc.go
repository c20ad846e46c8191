// Package dsp is the Dataspace Protocol 2025-1 wire format: the catalogue,
// contract negotiation and transfer process messages, their states, the
// error objects, and strict decoders for messages received from peers.
//
// Decoders refuse bodies larger than MaxMessageBytes, unknown @type values,
// a missing @context, and missing required fields; every error is a
// *DecodeError naming the message type and the field. The types marshal to
// JSON that validates against the official schemas (dspschema, test-only, Apache-2.0).
package dsp
