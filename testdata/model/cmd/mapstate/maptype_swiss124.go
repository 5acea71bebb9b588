//go:build (go1.24 && goexperiment.swissmap && !go1.26) || (go1.26 && !go1.27)

package main

import "unsafe"

// mapType mirrors internal/abi.MapType (SwissMapType in 1.24/1.25) of Swiss maps.
type mapType struct {
	typ       rtype
	key, elem *rtype
	group     *rtype
	hasher    unsafe.Pointer
	groupSize uintptr
	slotSize  uintptr
	elemOff   uintptr
	flags     uint32
}

func describeType(t unsafe.Pointer) map[string]any {
	mt := (*mapType)(t)
	// Flags: NeedKeyUpdate 1, HashMightPanic 2, IndirectKey 4, IndirectElem 8 (internal/abi/map.go).
	return map[string]any{"groupSize": mt.groupSize, "groupTypeSize": mt.group.size, "slotSize": mt.slotSize,
		"elemOff": mt.elemOff, "indirectKey": mt.flags&4 != 0, "indirectElem": mt.flags&8 != 0,
		"noscan": mt.group.ptrBytes == 0}
}
