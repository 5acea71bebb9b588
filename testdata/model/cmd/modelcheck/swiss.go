//go:build go1.26 || (go1.24 && goexperiment.swissmap)

package main

import "unsafe"

// swissMap mirrors internal/runtime/maps.Map (Go >= 1.24; the bool after writing is
// tombstonePossible from 1.25 and padding in 1.24, the same size either way).
type swissMap struct {
	used        uint64
	seed        uintptr
	dirPtr      unsafe.Pointer
	dirLen      int
	globalDepth uint8
	globalShift uint8
	writing     uint8
	_           bool
	clearSeq    uint64
}

// table mirrors internal/runtime/maps.table.
type table struct {
	used       uint16
	capacity   uint16
	growthLeft uint16
	localDepth uint8
	index      int
	data       unsafe.Pointer
	lengthMask uint64
}

func header(m any) *swissMap {
	return (*swissMap)((*[2]unsafe.Pointer)(unsafe.Pointer(&m))[1])
}

func describe(what string, n int, m any) {
	h := header(m)
	caps := map[int]int{}
	seen := map[unsafe.Pointer]bool{}
	for i := 0; i < h.dirLen; i++ {
		t := *(*unsafe.Pointer)(unsafe.Add(h.dirPtr, i*8))
		if !seen[t] {
			seen[t] = true
			caps[int((*table)(t).capacity)]++
		}
	}
	out.Encode(map[string]any{"type": "map", "layout": "swiss", "what": what, "n": n,
		"dirLen": h.dirLen, "globalDepth": h.globalDepth, "tableCaps": caps, "small": h.dirLen == 0 && h.dirPtr != nil})
}

func reportMaps() {
	for _, h := range []int{0, 8, 9, 13, 14, 27, 100, 1000, 5000, 100000, 1 << 20} {
		describe("hint", h, make(map[int64]int64, h))
	}
	m := map[int64]int64{}
	for i := int64(1); i <= 200000; i++ {
		m[i] = i
		if i == 1 || i == 8 || i == 9 || i == 14 || i == 15 || i == 100 || i == 896 || i == 897 || i == 200000 {
			describe("inserts", int(i), m)
		}
	}
}

// heldFields reads what a Swiss map holds: its directory and each distinct table's capacity.
func heldFields(m any) map[string]any {
	h := header(m)
	caps := []int{}
	seen := map[unsafe.Pointer]bool{}
	for i := 0; i < h.dirLen; i++ {
		t := *(*unsafe.Pointer)(unsafe.Add(h.dirPtr, i*8))
		if !seen[t] {
			seen[t] = true
			caps = append(caps, int((*table)(t).capacity))
		}
	}
	return map[string]any{"layout": "swiss", "used": h.used, "dirLen": h.dirLen, "tableCaps": caps,
		"small": h.dirLen == 0 && h.dirPtr != nil}
}
