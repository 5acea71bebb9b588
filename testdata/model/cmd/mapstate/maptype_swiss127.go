//go:build go1.27

package main

import "unsafe"

// mapType mirrors internal/abi.MapType of Go 1.27, which describes where keys and elems sit
// (KeysOff/KeyStride, ElemsOff/ElemStride) so that GOEXPERIMENT=mapsplitgroup can store them in
// separate arrays; by default the slots stay interleaved and ElemOff is the elem's offset in a slot.
type mapType struct {
	typ        rtype
	key, elem  *rtype
	group      *rtype
	hasher     unsafe.Pointer
	groupSize  uintptr
	keysOff    uintptr
	keyStride  uintptr
	elemsOff   uintptr
	elemStride uintptr
	elemOff    uintptr
	flags      uint32
}

func describeType(t unsafe.Pointer) map[string]any {
	mt := (*mapType)(t)
	// Flags: NeedKeyUpdate 1, HashMightPanic 2, IndirectKey 4, IndirectElem 8 (internal/abi/map.go).
	return map[string]any{"groupSize": mt.groupSize, "groupTypeSize": mt.group.size, "slotSize": mt.keyStride,
		"elemOff": mt.elemOff, "indirectKey": mt.flags&4 != 0, "indirectElem": mt.flags&8 != 0,
		"noscan": mt.group.ptrBytes == 0, "keysOff": mt.keysOff, "elemsOff": mt.elemsOff, "elemStride": mt.elemStride}
}
