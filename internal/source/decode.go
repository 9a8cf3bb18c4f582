package source

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/gostate/gostate/internal/flow"
)

// ctnetlink attribute numbers (linux/netfilter/nfnetlink_conntrack.h). Only
// the ones gostate reads or sends are listed; every other attribute is skipped.
const (
	ctaTupleOrig     = 1
	ctaTupleReply    = 2
	ctaStatus        = 3
	ctaProtoinfo     = 4
	ctaTimeout       = 7
	ctaMark          = 8
	ctaCountersOrig  = 9
	ctaCountersReply = 10
	ctaID            = 12
	ctaZone          = 18
	ctaTimestamp     = 20

	ctaTupleIP    = 1
	ctaTupleProto = 2
	ctaTupleZone  = 3

	ctaIPv4Src = 1
	ctaIPv4Dst = 2
	ctaIPv6Src = 3
	ctaIPv6Dst = 4

	ctaProtoNum      = 1
	ctaProtoSrcPort  = 2
	ctaProtoDstPort  = 3
	ctaProtoICMPID   = 4
	ctaProtoICMPType = 5
	ctaProtoICMPCode = 6
	ctaProtoICMPv6ID = 7
	ctaProtoICMPv6Ty = 8
	ctaProtoICMPv6Co = 9

	// CTA_PROTOINFO_TCP, _DCCP and _SCTP each nest a state as their first
	// attribute (CTA_PROTOINFO_*_STATE = 1).
	ctaProtoinfoTCP   = 1
	ctaProtoinfoDCCP  = 2
	ctaProtoinfoSCTP  = 3
	ctaProtoinfoState = 1

	ctaCountersPackets   = 1
	ctaCountersBytes     = 2
	ctaCounters32Packets = 3
	ctaCounters32Bytes   = 4

	ctaTimestampStart = 1

	// nlaTypeMask strips NLA_F_NESTED (0x8000) and NLA_F_NET_BYTEORDER
	// (0x4000) from an attribute's type.
	nlaTypeMask = 0x3fff
	nlaNested   = 0x8000

	// nfgenmsgLen is the size of struct nfgenmsg, which starts every
	// nfnetlink message: family, version, resource id.
	nfgenmsgLen = 4
)

// errBadMessage is what decodeFlow returns for a message it cannot read; the
// reader counts such messages in Table.Skipped and goes on.
var errBadMessage = errors.New("malformed ctnetlink message")

// attrs walks the netlink attributes in a byte slice without allocating. Use:
//
//	for a := (attrs{b: payload}); a.next(); { switch a.typ { ... a.val ... } }
//
// After the loop, a.bad reports whether the walk stopped at a malformed
// attribute header rather than at the end of the data.
type attrs struct {
	b   []byte
	typ uint16 // attribute type without the nested and byte-order flags
	val []byte // payload, without padding
	bad bool
}

// next is kept small enough for the compiler to inline: it runs for every
// attribute of every entry.
func (a *attrs) next() bool {
	b := a.b
	if len(b) >= 4 {
		l := int(binary.NativeEndian.Uint16(b))
		if l >= 4 && l <= len(b) {
			a.typ = binary.NativeEndian.Uint16(b[2:]) & nlaTypeMask
			a.val = b[4:l]
			a.b = b[min((l+3)&^3, len(b)):]
			return true
		}
	}
	// Anything left that is not a whole attribute is garbage.
	a.bad = len(b) != 0
	return false
}

// decodeFlow decodes one ctnetlink conntrack message (struct nfgenmsg followed
// by attributes, the payload of a netlink message) into f, overwriting all of
// it. It allocates nothing. Unknown attributes are skipped; a known attribute
// with an impossible size, or a message without an original tuple, is an error.
func decodeFlow(b []byte, f *flow.Flow) error {
	*f = flow.Flow{}
	if len(b) < nfgenmsgLen {
		return fmt.Errorf("%w: %d bytes", errBadMessage, len(b))
	}
	switch b[0] {
	case uint8(flow.FamilyIPv4), uint8(flow.FamilyIPv6):
		f.Family = flow.Family(b[0])
	default:
		return fmt.Errorf("%w: address family %d", errBadMessage, b[0])
	}
	var haveOrig, haveZone bool
	var tupleZone uint16
	a := attrs{b: b[nfgenmsgLen:]}
	for a.next() {
		var err error
		switch a.typ {
		case ctaTupleOrig:
			haveOrig = true
			err = decodeTuple(a.val, f, &f.Orig, &tupleZone)
		case ctaTupleReply:
			var z uint16
			err = decodeTuple(a.val, f, &f.Reply, &z)
		case ctaStatus:
			var v uint32
			v, err = be32(a.val)
			f.Status = flow.Status(v)
		case ctaProtoinfo:
			err = decodeProtoinfo(a.val, f)
		case ctaTimeout:
			f.Timeout, err = be32(a.val)
			f.Present |= flow.HasTimeout
		case ctaMark:
			f.Mark, err = be32(a.val)
		case ctaID:
			f.ID, err = be32(a.val)
			f.Present |= flow.HasID
		case ctaZone:
			f.Zone, err = be16(a.val)
			haveZone = true
		case ctaCountersOrig:
			err = decodeCounters(a.val, &f.OrigPackets, &f.OrigBytes)
			f.Present |= flow.HasCounters
		case ctaCountersReply:
			err = decodeCounters(a.val, &f.ReplyPackets, &f.ReplyBytes)
			f.Present |= flow.HasCounters
		case ctaTimestamp:
			err = decodeTimestamp(a.val, f)
		}
		if err != nil {
			return err
		}
	}
	if a.bad {
		return fmt.Errorf("%w: truncated attribute", errBadMessage)
	}
	if !haveOrig {
		return fmt.Errorf("%w: no original tuple", errBadMessage)
	}
	if !haveZone {
		// A zone that applies to one direction only travels inside the
		// tuples; the original direction's is the one /proc shows first.
		f.Zone = tupleZone
	}
	return nil
}

// decodeTuple reads a CTA_TUPLE_* nest. The protocol number lands in f.Proto
// (both tuples carry the same one).
func decodeTuple(b []byte, f *flow.Flow, t *flow.Tuple, zone *uint16) error {
	a := attrs{b: b}
	for a.next() {
		var err error
		switch a.typ {
		case ctaTupleIP:
			err = decodeIP(a.val, t)
		case ctaTupleProto:
			err = decodeProto(a.val, f, t)
		case ctaTupleZone:
			*zone, err = be16(a.val)
		}
		if err != nil {
			return err
		}
	}
	if a.bad {
		return fmt.Errorf("%w: truncated tuple", errBadMessage)
	}
	return nil
}

func decodeIP(b []byte, t *flow.Tuple) error {
	a := attrs{b: b}
	for a.next() {
		want := 0
		var dst *flow.Addr
		switch a.typ {
		case ctaIPv4Src:
			want, dst = 4, &t.Src
		case ctaIPv4Dst:
			want, dst = 4, &t.Dst
		case ctaIPv6Src:
			want, dst = 16, &t.Src
		case ctaIPv6Dst:
			want, dst = 16, &t.Dst
		default:
			continue
		}
		if len(a.val) != want {
			return fmt.Errorf("%w: %d-byte address", errBadMessage, len(a.val))
		}
		*dst = flow.AddrFromSlice(a.val)
	}
	if a.bad {
		return fmt.Errorf("%w: truncated address", errBadMessage)
	}
	return nil
}

func decodeProto(b []byte, f *flow.Flow, t *flow.Tuple) error {
	a := attrs{b: b}
	for a.next() {
		var err error
		switch a.typ {
		case ctaProtoNum:
			f.Proto, err = u8(a.val)
		case ctaProtoSrcPort, ctaProtoICMPID, ctaProtoICMPv6ID:
			// GRE sends its keys as ports; ICMP's id sits where flow.Tuple
			// keeps it, in SrcPort.
			t.SrcPort, err = be16(a.val)
		case ctaProtoDstPort:
			t.DstPort, err = be16(a.val)
		case ctaProtoICMPType, ctaProtoICMPv6Ty:
			t.ICMPType, err = u8(a.val)
		case ctaProtoICMPCode, ctaProtoICMPv6Co:
			t.ICMPCode, err = u8(a.val)
		}
		if err != nil {
			return err
		}
	}
	if a.bad {
		return fmt.Errorf("%w: truncated protocol tuple", errBadMessage)
	}
	return nil
}

func decodeProtoinfo(b []byte, f *flow.Flow) error {
	a := attrs{b: b}
	for a.next() {
		if a.typ != ctaProtoinfoTCP && a.typ != ctaProtoinfoDCCP && a.typ != ctaProtoinfoSCTP {
			continue
		}
		in := attrs{b: a.val}
		for in.next() {
			if in.typ != ctaProtoinfoState {
				continue
			}
			s, err := u8(in.val)
			if err != nil {
				return err
			}
			f.State = s
			f.Present |= flow.HasState
		}
		if in.bad {
			return fmt.Errorf("%w: truncated protocol info", errBadMessage)
		}
	}
	if a.bad {
		return fmt.Errorf("%w: truncated protocol info", errBadMessage)
	}
	return nil
}

// decodeCounters reads a CTA_COUNTERS_* nest: 64-bit counters, or the 32-bit
// ones that very old kernels sent.
func decodeCounters(b []byte, packets, bytes *uint64) error {
	a := attrs{b: b}
	for a.next() {
		var err error
		switch a.typ {
		case ctaCountersPackets:
			*packets, err = be64(a.val)
		case ctaCountersBytes:
			*bytes, err = be64(a.val)
		case ctaCounters32Packets:
			var v uint32
			v, err = be32(a.val)
			*packets = uint64(v)
		case ctaCounters32Bytes:
			var v uint32
			v, err = be32(a.val)
			*bytes = uint64(v)
		}
		if err != nil {
			return err
		}
	}
	if a.bad {
		return fmt.Errorf("%w: truncated counters", errBadMessage)
	}
	return nil
}

func decodeTimestamp(b []byte, f *flow.Flow) error {
	a := attrs{b: b}
	for a.next() {
		if a.typ != ctaTimestampStart {
			continue
		}
		ns, err := be64(a.val)
		if err != nil {
			return err
		}
		if ns != 0 {
			f.Start = uint32(ns / 1e9)
			f.Present |= flow.HasStart
		}
	}
	if a.bad {
		return fmt.Errorf("%w: truncated timestamp", errBadMessage)
	}
	return nil
}

// The kernel sends u8 values padded to four bytes; padding is not part of
// the payload, so the sizes below are exact.

func u8(b []byte) (uint8, error) {
	if len(b) != 1 {
		return 0, sizeError(len(b), 8)
	}
	return b[0], nil
}

func be16(b []byte) (uint16, error) {
	if len(b) != 2 {
		return 0, sizeError(len(b), 16)
	}
	return binary.BigEndian.Uint16(b), nil
}

func be32(b []byte) (uint32, error) {
	if len(b) != 4 {
		return 0, sizeError(len(b), 32)
	}
	return binary.BigEndian.Uint32(b), nil
}

func be64(b []byte) (uint64, error) {
	if len(b) != 8 {
		return 0, sizeError(len(b), 64)
	}
	return binary.BigEndian.Uint64(b), nil
}

// sizeError is out of line so that the readers above stay small enough to
// inline.
func sizeError(n, bits int) error {
	return fmt.Errorf("%w: %d bytes for a %d-bit value", errBadMessage, n, bits)
}
