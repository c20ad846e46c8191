package fabric

import (
	"errors"
	"slices"
	"unicode/utf8"

	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/rwset/kvrwset"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// Reading a transaction's writes the way chaincodeWrites does with the
// protobuf library copies the transaction's bytes once per level of nesting
// (envelope, payload, transaction, action, response payload, chaincode
// action, read-write set: seven copies of every record the follower reads).
// writesInPlace walks the same fields with protowire and keeps slices of the
// envelope instead. It takes only the plain shape Fabric writes — every
// single field it reads at most once, every field with its own wire type —
// and says so (errNotPlain) otherwise, so that anything unusual is read by the protobuf library, with
// its rules (the last of repeated scalars, repeated messages merged).
// FuzzWritesInPlace holds the two to the same answer wherever the library
// reads the envelope.

var errNotPlain = errors.New("not the plain shape")

// fieldsOf calls f for each field of msg, the value of a length-delimited
// field as a slice of msg. A field among once seen twice, a wire type other
// than the one expected, or a malformed message is errNotPlain.
func fieldsOf(msg []byte, once map[protowire.Number]protowire.Type, f func(n protowire.Number, v []byte, x uint64) error) error {
	var seen uint64 // field numbers below 64 seen so far
	for len(msg) > 0 {
		n, t, l := protowire.ConsumeTag(msg)
		if l < 0 {
			return errNotPlain
		}
		msg = msg[l:]
		var v []byte
		var x uint64
		switch t {
		case protowire.BytesType:
			v, l = protowire.ConsumeBytes(msg)
		case protowire.VarintType:
			x, l = protowire.ConsumeVarint(msg)
		default:
			l = protowire.ConsumeFieldValue(n, t, msg)
		}
		if l < 0 {
			return errNotPlain
		}
		msg = msg[l:]
		want, ok := once[n]
		if !ok {
			continue // a field this reading does not need
		}
		if want != t || n >= 64 || seen&(1<<n) != 0 {
			return errNotPlain
		}
		seen |= 1 << n
		if err := f(n, v, x); err != nil {
			return err
		}
	}
	return nil
}

// bytesFields are the length-delimited fields nums of msg, each at most once
// (nil where absent).
func bytesFields(msg []byte, nums ...protowire.Number) ([][]byte, error) {
	want := make(map[protowire.Number]protowire.Type, len(nums))
	for _, n := range nums {
		want[n] = protowire.BytesType
	}
	out := make([][]byte, len(nums))
	err := fieldsOf(msg, want, func(n protowire.Number, v []byte, _ uint64) error {
		out[slices.Index(nums, n)] = v
		return nil
	})
	return out, err
}

// bytesField is the one length-delimited field n of msg (nil if absent).
func bytesField(msg []byte, n protowire.Number) ([]byte, error) {
	v, err := bytesFields(msg, n)
	return v[0], err
}

// eachBytes calls f for every occurrence of the repeated length-delimited
// field n of msg, in order; other fields are skipped.
func eachBytes(msg []byte, n protowire.Number, f func(v []byte) error) error {
	for len(msg) > 0 {
		num, t, l := protowire.ConsumeTag(msg)
		if l < 0 {
			return errNotPlain
		}
		msg = msg[l:]
		if num != n {
			if l = protowire.ConsumeFieldValue(num, t, msg); l < 0 {
				return errNotPlain
			}
			msg = msg[l:]
			continue
		}
		if t != protowire.BytesType {
			return errNotPlain
		}
		v, l := protowire.ConsumeBytes(msg)
		if l < 0 {
			return errNotPlain
		}
		msg = msg[l:]
		if err := f(v); err != nil {
			return err
		}
	}
	return nil
}

// validWrites is chaincodeWrites for a transaction the peers marked valid
// (the follower's), read in place when it has the plain shape. A valid
// transaction is one the peers read with the protobuf library; an invalid
// one may be anything, and the audit reads those with the library alone.
func validWrites(env []byte, chaincode string) (*endorsedWrites, error) {
	if w, err := writesInPlace(env, chaincode); err == nil {
		return w, nil
	}
	return chaincodeWrites(env, chaincode)
}

// writesInPlace is chaincodeWrites without the copies, or errNotPlain when
// the envelope is not of the plain shape.
func writesInPlace(env []byte, chaincode string) (*endorsedWrites, error) {
	payload, err := bytesField(env, 1) // Envelope.payload
	if err != nil {
		return nil, err
	}
	hd, err := bytesFields(payload, 1, 2) // Payload.header, Payload.data
	if err != nil {
		return nil, err
	}
	header, data := hd[0], hd[1]
	if header == nil {
		return nil, errNotPlain // the library's message: "payload has no header"
	}
	chdr, err := bytesField(header, 1) // Header.channel_header
	if err != nil {
		return nil, err
	}
	var typ uint64
	var txID []byte
	err = fieldsOf(chdr, map[protowire.Number]protowire.Type{1: protowire.VarintType, 5: protowire.BytesType}, func(n protowire.Number, v []byte, x uint64) error {
		if n == 1 {
			typ = x // ChannelHeader.type
		} else {
			txID = v // ChannelHeader.tx_id
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if common.HeaderType(int32(typ)) != common.HeaderType_ENDORSER_TRANSACTION || typ > 1<<31-1 || !utf8.Valid(txID) {
		return nil, errNotPlain // not the one kind read here: the library decides
	}
	var out *endorsedWrites
	err = eachBytes(data, 1, func(action []byte) error { // Transaction.actions
		w, err := actionWrites(action, chaincode)
		if err != nil || w == nil {
			return err
		}
		if out != nil {
			return errNotPlain // the library's message: "more than one action of the chaincode"
		}
		w.txID = string(txID)
		out = w
		return nil
	})
	return out, err
}

// actionWrites reads one TransactionAction: the chaincode's writes and event,
// or nil for another chaincode's action.
func actionWrites(action []byte, chaincode string) (*endorsedWrites, error) {
	payload, err := bytesField(action, 2) // TransactionAction.payload
	if err != nil {
		return nil, err
	}
	endorsed, err := bytesField(payload, 2) // ChaincodeActionPayload.action
	if err != nil || endorsed == nil {
		return nil, err
	}
	prp, err := bytesField(endorsed, 1) // ChaincodeEndorsedAction.proposal_response_payload
	if err != nil {
		return nil, err
	}
	var endorsements []*peer.Endorsement
	err = eachBytes(endorsed, 2, func(v []byte) error { // endorsements, small: the library reads them
		e := &peer.Endorsement{}
		if err := proto.Unmarshal(v, e); err != nil {
			return errNotPlain
		}
		endorsements = append(endorsements, e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	ext, err := bytesField(prp, 2) // ProposalResponsePayload.extension
	if err != nil {
		return nil, err
	}
	act, err := bytesFields(ext, 1, 2, 4) // ChaincodeAction.results, events, chaincode_id
	if err != nil {
		return nil, err
	}
	results, events, ccid := act[0], act[1], act[2]
	if ccid == nil {
		return nil, nil
	}
	name, err := bytesField(ccid, 2) // ChaincodeID.name
	if err != nil {
		return nil, err
	}
	if !utf8.Valid(name) {
		return nil, errNotPlain
	}
	if string(name) != chaincode {
		return nil, nil
	}
	w := &endorsedWrites{prp: prp, endorsements: endorsements}
	if len(events) > 0 {
		ev, err := bytesFields(events, 3, 4) // ChaincodeEvent.event_name, payload
		if err != nil {
			return nil, err
		}
		if !utf8.Valid(ev[0]) {
			return nil, errNotPlain
		}
		w.event, w.payload = string(ev[0]), ev[1]
	}
	err = eachBytes(results, 2, func(ns []byte) error { // TxReadWriteSet.ns_rwset
		nr, err := bytesFields(ns, 1, 2) // NsReadWriteSet.namespace, rwset
		if err != nil {
			return err
		}
		if !utf8.Valid(nr[0]) {
			return errNotPlain
		}
		if string(nr[0]) != chaincode {
			return nil
		}
		return eachBytes(nr[1], 3, func(wb []byte) error { // KVRWSet.writes
			kw, err := kvWrite(wb)
			if err == nil {
				w.writes = append(w.writes, kw)
			}
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	return w, nil
}

// kvWrite reads a KVWrite, its value a slice of wb.
func kvWrite(wb []byte) (*kvrwset.KVWrite, error) {
	kw := &kvrwset.KVWrite{}
	err := fieldsOf(wb, map[protowire.Number]protowire.Type{1: protowire.BytesType, 2: protowire.VarintType, 3: protowire.BytesType}, func(n protowire.Number, v []byte, x uint64) error {
		switch n {
		case 1:
			if !utf8.Valid(v) {
				return errNotPlain
			}
			kw.Key = string(v)
		case 2:
			kw.IsDelete = x != 0
		case 3:
			kw.Value = v
		}
		return nil
	})
	return kw, err
}
