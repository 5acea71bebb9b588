//go:build !go1.24 || (!goexperiment.swissmap && !go1.26)

package main

import (
	"math/rand"
	"unsafe"
)

// mapextra mirrors runtime.mapextra.
type mapextra struct {
	overflow     unsafe.Pointer
	oldoverflow  unsafe.Pointer
	nextOverflow unsafe.Pointer
}

// bucketSize of map[int64]int64: tophash [8]uint8, 8 keys, 8 elems, overflow pointer.
const bucketSize = 8 + 8*8 + 8*8 + 8

func header(m map[int64]int64) *hmap {
	var a any = m
	return (*hmap)((*[2]unsafe.Pointer)(unsafe.Pointer(&a))[1])
}

func overflowOf(b unsafe.Pointer) unsafe.Pointer {
	return *(*unsafe.Pointer)(unsafe.Add(b, bucketSize-8))
}

// nbuckets measures the bucket array length of a fresh map with preallocated overflow
// buckets: makeBucketArray marks the last one by pointing its overflow at the array.
func nbuckets(h *hmap) int {
	if h.extra == nil || h.extra.nextOverflow == nil {
		return 1 << h.B
	}
	for p := h.extra.nextOverflow; ; p = unsafe.Add(p, bucketSize) {
		if overflowOf(p) == h.buckets {
			return int((uintptr(p)-uintptr(h.buckets))/bucketSize) + 1
		}
	}
}

// chained counts the overflow buckets hanging off h.buckets.
func chained(h *hmap) int {
	n := 0
	if h.buckets == nil { // B = 0 and no insert yet: the bucket comes with the first one
		return 0
	}
	for i := 0; i < 1<<h.B; i++ {
		for b := overflowOf(unsafe.Add(h.buckets, i*bucketSize)); b != nil; b = overflowOf(b) {
			n++
		}
	}
	return n
}

// evacuatedAhead counts old buckets at or after nevacuate already evacuated out of order
// (runtime/map.go evacuated: tophash[0] is evacuatedX, evacuatedY or evacuatedEmpty).
func evacuatedAhead(h *hmap) int {
	if h.oldbuckets == nil {
		return 0
	}
	old := 1 << h.B
	if h.flags&8 == 0 {
		old >>= 1
	}
	n := 0
	for i := int(h.nevacuate); i < old; i++ {
		if top := *(*uint8)(unsafe.Add(h.oldbuckets, i*bucketSize)); top >= 2 && top <= 4 {
			n++
		}
	}
	return n
}

func state(h *hmap) map[string]any {
	return map[string]any{"ahead": evacuatedAhead(h), "count": h.count, "B": h.B, "noverflow": h.noverflow, "growing": h.oldbuckets != nil,
		"sameSize": h.flags&8 != 0, "nevacuate": h.nevacuate}
}

func describe(kind string, n int, m map[int64]int64) {
	h := header(m)
	s := state(h)
	s["n"] = n
	s["overflow"] = chained(h)
	if kind == "hint" {
		s["nbuckets"] = nbuckets(h)
	}
	emit(kind, s)
}

// mapType mirrors internal/abi.MapType (OldMapType in 1.24/1.25) of classic maps.
type mapType struct {
	typ        rtype
	key, elem  *rtype
	bucket     *rtype
	hasher     unsafe.Pointer
	keySize    uint8
	valueSize  uint8
	bucketSize uint16
	flags      uint32
}

func describeType(t unsafe.Pointer) map[string]any {
	mt := (*mapType)(t)
	return map[string]any{"bucketSize": mt.bucketSize, "bucketTypeSize": mt.bucket.size, "keySlot": mt.keySize,
		"elemSlot": mt.valueSize, "indirectKey": mt.flags&1 != 0, "indirectElem": mt.flags&2 != 0,
		"noscan": mt.bucket.ptrBytes == 0}
}

func report() {
	emit("layout", map[string]any{"layout": "classic"})
	reportTypes()
	for _, hint := range hints {
		describe("hint", hint, make(map[int64]int64, hint))
	}
	// Grown from empty: each doubling starts on the insert that takes count over the load
	// factor, and growWork then runs on every write until nevacuate reaches noldbuckets.
	m := map[int64]int64{}
	want := 0
	for i := 1; i <= 200000; i++ {
		h := header(m)
		before := state(h)
		m[int64(i)] = 1
		if h.B != before["B"].(uint8) || (!before["growing"].(bool) && h.oldbuckets != nil) {
			// This insert started a grow (finished within it when there was one old bucket): count how many more writes (of existing keys) finish it.
			start := state(h)
			writes := 0
			for h.oldbuckets != nil {
				m[int64(1+rand.Intn(i))] = 2
				writes++
			}
			emit("grow", map[string]any{"before": before, "after": start, "writes": writes})
		}
		if want < len(inserts) && i == inserts[want] {
			describe("inserts", i, m)
			want++
		}
	}
	// The range-delete loop compiles to mapclear: noverflow resets, B and the bucket array stay (maps never shrink).
	for k := range m {
		delete(m, k)
	}
	describe("cleared", 200000, m)

	// Above B = 16 noverflow is sampled: report it beside the overflow buckets really chained.
	for _, n := range []int{450000, 900000} {
		big := make(map[int64]int64)
		for i := 0; i < n; i++ {
			big[rand.Int63()] = 1
		}
		h := header(big)
		for h.oldbuckets != nil { // finish any grow so every chain lives in h.buckets
			big[rand.Int63()] = 1
		}
		describe("sampled", n, big)
	}

	// Churn at a constant size: overflow buckets pile up until noverflow >= 2^B, and the next
	// new key starts a same-size grow.
	churn := map[int64]int64{}
	live := []int64{}
	for i := 0; i < 100; i++ {
		k := rand.Int63()
		churn[k] = 1
		live = append(live, k)
	}
	sameSize := 0
	for i := 0; i < 200000 && sameSize < 5; i++ {
		h := header(churn)
		j := rand.Intn(len(live))
		delete(churn, live[j])
		before := state(h)
		k := rand.Int63()
		churn[k] = 1
		live[j] = k
		if h.B != before["B"].(uint8) || (!before["growing"].(bool) && h.oldbuckets != nil) {
			emit("grow", map[string]any{"before": before, "after": state(h), "writes": -1})
			sameSize++
		}
	}
}
