package source

import (
	"encoding/binary"

	"github.com/gostate/gostate/internal/flow"
)

// The encoders below build the attributes of lookup and delete requests, in
// the layout decodeFlow reads (TestEncodeDecode checks one against the other).

// appendAttr appends an attribute with payload v, padded to four bytes.
func appendAttr(b []byte, typ uint16, v []byte) []byte {
	var h [4]byte
	binary.NativeEndian.PutUint16(h[:], uint16(4+len(v)))
	binary.NativeEndian.PutUint16(h[2:], typ)
	b = append(b, h[:]...)
	b = append(b, v...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// beginNest appends the header of a nested attribute and returns where it
// starts, for endNest.
func beginNest(b []byte, typ uint16) ([]byte, int) {
	start := len(b)
	return appendAttr(b, typ|nlaNested, nil), start
}

// endNest sets the length of the nest that starts at b[start:].
func endNest(b []byte, start int) {
	binary.NativeEndian.PutUint16(b[start:], uint16(len(b)-start))
}

func appendU8(b []byte, typ uint16, v uint8) []byte { return appendAttr(b, typ, []byte{v}) }

func appendBE16(b []byte, typ uint16, v uint16) []byte {
	var x [2]byte
	binary.BigEndian.PutUint16(x[:], v)
	return appendAttr(b, typ, x[:])
}

func appendBE32(b []byte, typ uint16, v uint32) []byte {
	var x [4]byte
	binary.BigEndian.PutUint32(x[:], v)
	return appendAttr(b, typ, x[:])
}

// appendTuple appends a CTA_TUPLE_ORIG or CTA_TUPLE_REPLY nest for one
// direction of f: what the kernel needs to find an entry by exact tuple.
func appendTuple(b []byte, typ uint16, f *flow.Flow, t *flow.Tuple) []byte {
	b, tuple := beginNest(b, typ)
	b, ip := beginNest(b, ctaTupleIP)
	if f.Family == flow.FamilyIPv4 {
		b = appendAttr(b, ctaIPv4Src, t.Src[12:])
		b = appendAttr(b, ctaIPv4Dst, t.Dst[12:])
	} else {
		b = appendAttr(b, ctaIPv6Src, t.Src[:])
		b = appendAttr(b, ctaIPv6Dst, t.Dst[:])
	}
	endNest(b, ip)
	b, proto := beginNest(b, ctaTupleProto)
	b = appendU8(b, ctaProtoNum, f.Proto)
	switch {
	case f.Proto == flow.ProtoICMP:
		b = appendBE16(b, ctaProtoICMPID, t.SrcPort)
		b = appendU8(b, ctaProtoICMPType, t.ICMPType)
		b = appendU8(b, ctaProtoICMPCode, t.ICMPCode)
	case f.Proto == flow.ProtoICMPv6:
		b = appendBE16(b, ctaProtoICMPv6ID, t.SrcPort)
		b = appendU8(b, ctaProtoICMPv6Ty, t.ICMPType)
		b = appendU8(b, ctaProtoICMPv6Co, t.ICMPCode)
	case f.HasPorts() || f.Proto == flow.ProtoGRE:
		// GRE's keys travel as ports.
		b = appendBE16(b, ctaProtoSrcPort, t.SrcPort)
		b = appendBE16(b, ctaProtoDstPort, t.DstPort)
	}
	endNest(b, proto)
	endNest(b, tuple)
	return b
}
