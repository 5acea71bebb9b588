//go:build go1.26 || (go1.24 && goexperiment.swissmap)

package main

import (
	"math/rand"
	"unsafe"
)

// swissMap mirrors internal/runtime/maps.Map (the bool after writing is tombstonePossible
// from 1.25 and padding in 1.24: the same size either way).
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

// groupSize of map[int64]int64: the ctrl word then 8 slots of {key, elem}.
const groupSize = 8 + 8*16

func header(m map[int64]int64) *swissMap {
	var a any = m
	return (*swissMap)((*[2]unsafe.Pointer)(unsafe.Pointer(&a))[1])
}

// tables lists each distinct table once, in directory order.
func tables(h *swissMap) []*table {
	var ts []*table
	seen := map[unsafe.Pointer]bool{}
	for i := 0; i < h.dirLen; i++ {
		t := *(*unsafe.Pointer)(unsafe.Add(h.dirPtr, i*8))
		if !seen[t] {
			seen[t] = true
			ts = append(ts, (*table)(t))
		}
	}
	return ts
}

// census counts the ctrl bytes of one table's groups: full (0b0hhhhhhh) and deleted (0xFE).
func census(t *table) (full, deleted int) {
	for g := uint64(0); g <= t.lengthMask; g++ {
		ctrl := *(*[8]uint8)(unsafe.Add(t.data, g*groupSize))
		for _, c := range ctrl {
			switch {
			case c&0x80 == 0:
				full++
			case c == 0xFE:
				deleted++
			}
		}
	}
	return
}

func describe(kind string, n int, m map[int64]int64) {
	h := header(m)
	var ts []map[string]any
	for _, t := range tables(h) {
		full, deleted := census(t)
		ts = append(ts, map[string]any{"capacity": t.capacity, "used": t.used, "growthLeft": t.growthLeft,
			"localDepth": t.localDepth, "full": full, "deleted": deleted})
	}
	emit(kind, map[string]any{"n": n, "used": h.used, "dirLen": h.dirLen, "globalDepth": h.globalDepth,
		"small": h.dirLen == 0 && h.dirPtr != nil, "tables": ts})
}

// shape is what changes when a table grows or splits.
func shape(h *swissMap) [3]int {
	c := 0
	for _, t := range tables(h) {
		c += int(t.capacity)
	}
	return [3]int{h.dirLen, len(tables(h)), c}
}

func report() {
	emit("layout", map[string]any{"layout": "swiss"})
	reportTypes()
	for _, hint := range hints {
		m := make(map[int64]int64, hint)
		describe("hint", hint, m)
		// How many new keys until the map's structure first changes (a table grows or splits).
		if hint > 0 && hint <= 5000 {
			h := header(m)
			s0 := shape(h)
			k := 0
			for shape(h) == s0 {
				m[int64(k)] = 1
				k++
			}
			emit("firstgrow", map[string]any{"hint": hint, "keys": k})
		}
	}
	m := map[int64]int64{}
	want := 0
	grows := []map[string]any{}
	for i := 1; i <= 200000; i++ {
		h := header(m)
		if i > 2000 {
			m[int64(i)] = 1
		} else if before := shape(h); true {
			m[int64(i)] = 1
			if after := shape(h); after != before {
				grows = append(grows, map[string]any{"at": i, "before": before, "after": after})
			}
		}
		if want < len(inserts) && i == inserts[want] {
			describe("inserts", i, m)
			want++
		}
	}
	emit("grows", map[string]any{"grows": grows})
	// Deletes: tombstones where a group has no empty slot, emptied slots elsewhere.
	d := map[int64]int64{}
	for i := 0; i < 800; i++ {
		d[rand.Int63()] = 1
	}
	n := 0
	for k := range d {
		if n%3 != 0 {
			delete(d, k)
		}
		n++
	}
	describe("deleted", 800, d)
	for i := 0; i < 300; i++ { // new keys: some land on tombstones
		d[rand.Int63()] = 1
	}
	describe("reinserted", 300, d)
	for k := range d {
		delete(d, k)
	}
	describe("emptied", 0, d)
}
