package fabric

import (
	"errors"
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
// envelope instead. It takes only the plain shape Fabric writes — every field
// it reads at most once, with its own wire type — and says so (ok false)
// otherwise, so that anything unusual is read by the protobuf library, with
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

// bytesField is the one length-delimited field n of msg (nil if absent).
func bytesField(msg []byte, n protowire.Number) ([]byte, error) {
	var out []byte
	err := fieldsOf(msg, map[protowire.Number]protowire.Type{n: protowire.BytesType}, func(_ protowire.Number, v []byte, _ uint64) error {
		out = v
		return nil
	})
	return out, err
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
	w, _, err := inPlace(env, chaincode)
	return w, err
}

func inPlace(env []byte, chaincode string) (*endorsedWrites, bool, error) {
	payload, err := bytesField(env, 1) // Envelope.payload
	if err != nil {
		return nil, false, err
	}
	var header, data []byte
	err = fieldsOf(payload, map[protowire.Number]protowire.Type{1: protowire.BytesType, 2: protowire.BytesType}, func(n protowire.Number, v []byte, _ uint64) error {
		if n == 1 {
			header = v // Payload.header
		} else {
			data = v // Payload.data
		}
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	if header == nil {
		return nil, false, errNotPlain // the library's message: "payload has no header"
	}
	chdr, err := bytesField(header, 1) // Header.channel_header
	if err != nil {
		return nil, false, err
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
		return nil, false, err
	}
	if common.HeaderType(int32(typ)) != common.HeaderType_ENDORSER_TRANSACTION || typ > 1<<31-1 || !utf8.Valid(txID) {
		return nil, false, errNotPlain // not the one kind read here: the library decides
	}
	var out *endorsedWrites
	// Transaction.actions, repeated: walked one by one.
	for rest := data; len(rest) > 0; {
		n, t, l := protowire.ConsumeTag(rest)
		if l < 0 {
			return nil, false, errNotPlain
		}
		rest = rest[l:]
		if n != 1 || t != protowire.BytesType {
			return nil, false, errNotPlain
		}
		action, l := protowire.ConsumeBytes(rest)
		if l < 0 {
			return nil, false, errNotPlain
		}
		rest = rest[l:]
		w, err := actionWrites(action, chaincode)
		if err != nil {
			return nil, false, err
		}
		if w == nil {
			continue
		}
		if out != nil {
			return nil, false, errNotPlain // the library's message: "more than one action of the chaincode"
		}
		w.txID = string(txID)
		out = w
	}
	return out, true, nil
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
	var prp []byte
	var endorsements []*peer.Endorsement
	for rest := endorsed; len(rest) > 0; { // ChaincodeEndorsedAction
		n, t, l := protowire.ConsumeTag(rest)
		if l < 0 || t != protowire.BytesType {
			return nil, errNotPlain
		}
		rest = rest[l:]
		v, l := protowire.ConsumeBytes(rest)
		if l < 0 {
			return nil, errNotPlain
		}
		rest = rest[l:]
		switch n {
		case 1: // proposal_response_payload
			if prp != nil {
				return nil, errNotPlain
			}
			prp = v
		case 2: // endorsements, small: the library reads them
			e := &peer.Endorsement{}
			if err := proto.Unmarshal(v, e); err != nil {
				return nil, errNotPlain
			}
			endorsements = append(endorsements, e)
		default:
			return nil, errNotPlain
		}
	}
	ext, err := bytesField(prp, 2) // ProposalResponsePayload.extension
	if err != nil {
		return nil, err
	}
	var results, events, ccid []byte
	err = fieldsOf(ext, map[protowire.Number]protowire.Type{1: protowire.BytesType, 2: protowire.BytesType, 4: protowire.BytesType}, func(n protowire.Number, v []byte, _ uint64) error {
		switch n {
		case 1:
			results = v // ChaincodeAction.results
		case 2:
			events = v // ChaincodeAction.events
		case 4:
			ccid = v // ChaincodeAction.chaincode_id
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
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
		err = fieldsOf(events, map[protowire.Number]protowire.Type{3: protowire.BytesType, 4: protowire.BytesType}, func(n protowire.Number, v []byte, _ uint64) error {
			if n == 3 {
				if !utf8.Valid(v) {
					return errNotPlain
				}
				w.event = string(v) // ChaincodeEvent.event_name
			} else {
				w.payload = v // ChaincodeEvent.payload
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	// TxReadWriteSet.ns_rwset, repeated.
	for rest := results; len(rest) > 0; {
		n, t, l := protowire.ConsumeTag(rest)
		if l < 0 {
			return nil, errNotPlain
		}
		rest = rest[l:]
		if n != 2 || t != protowire.BytesType {
			if l = protowire.ConsumeFieldValue(n, t, rest); l < 0 || n == 2 {
				return nil, errNotPlain
			}
			rest = rest[l:]
			continue
		}
		ns, l := protowire.ConsumeBytes(rest)
		if l < 0 {
			return nil, errNotPlain
		}
		rest = rest[l:]
		var namespace, set []byte
		err := fieldsOf(ns, map[protowire.Number]protowire.Type{1: protowire.BytesType, 2: protowire.BytesType}, func(n protowire.Number, v []byte, _ uint64) error {
			if n == 1 {
				namespace = v
			} else {
				set = v
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if !utf8.Valid(namespace) {
			return nil, errNotPlain
		}
		if string(namespace) != chaincode {
			continue
		}
		if w.writes, err = kvWrites(set, w.writes); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// kvWrites appends the writes of a KVRWSet (field 3, repeated), their values
// slices of set.
func kvWrites(set []byte, out []*kvrwset.KVWrite) ([]*kvrwset.KVWrite, error) {
	for rest := set; len(rest) > 0; {
		n, t, l := protowire.ConsumeTag(rest)
		if l < 0 {
			return nil, errNotPlain
		}
		rest = rest[l:]
		if n != 3 {
			if l = protowire.ConsumeFieldValue(n, t, rest); l < 0 {
				return nil, errNotPlain
			}
			rest = rest[l:]
			continue
		}
		if t != protowire.BytesType {
			return nil, errNotPlain
		}
		wb, l := protowire.ConsumeBytes(rest)
		if l < 0 {
			return nil, errNotPlain
		}
		rest = rest[l:]
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
		if err != nil {
			return nil, err
		}
		out = append(out, kw)
	}
	return out, nil
}
