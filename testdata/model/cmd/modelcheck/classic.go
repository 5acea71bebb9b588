//go:build !go1.24 || (!goexperiment.swissmap && !go1.26)

package main

import "unsafe"

// hmap mirrors runtime/map.go's map header (Go <= 1.23). Only B is read here, so it also serves
// 1.24/1.25 with GOEXPERIMENT=noswissmap, whose hmap adds clearSeq before extra (cmd/mapstate mirrors that).
type hmap struct {
	count     int
	flags     uint8
	B         uint8
	noverflow uint16
	hash0     uint32
	buckets   unsafe.Pointer
	oldbucket unsafe.Pointer
	nevacuate uintptr
	extra     unsafe.Pointer
}

func header(m any) *hmap {
	// An interface holding a map holds the *hmap as its data word.
	return (*hmap)((*[2]unsafe.Pointer)(unsafe.Pointer(&m))[1])
}

func reportMaps() {
	for _, h := range []int{0, 8, 9, 13, 14, 27, 100, 1000, 5000, 100000, 1 << 20} {
		out.Encode(map[string]any{"type": "map", "layout": "classic", "what": "hint", "n": h,
			"B": header(make(map[int64]int64, h)).B})
	}
	m := map[int64]int64{}
	for i := int64(1); i <= 200000; i++ {
		m[i] = i
		if i == 8 || i == 9 || i == 13 || i == 14 || i == 100 || i == 1000 || i == 6656 || i == 6657 || i == 200000 {
			out.Encode(map[string]any{"type": "map", "layout": "classic", "what": "inserts", "n": i, "B": header(m).B})
		}
	}
}

// heldFields reads what a map[int64]V with 8-byte V holds (bucket of 144 bytes).
func heldFields(m any) map[string]any {
	h := header(m)
	const bucketSize = 8 + 8*8 + 8*8 + 8
	overflow := 0
	for i := 0; i < 1<<h.B; i++ {
		for b := *(*unsafe.Pointer)(unsafe.Add(h.buckets, i*bucketSize+bucketSize-8)); b != nil; b = *(*unsafe.Pointer)(unsafe.Add(b, bucketSize-8)) {
			overflow++
		}
	}
	return map[string]any{"layout": "classic", "count": h.count, "B": h.B, "overflow": overflow,
		"growing": h.oldbucket != nil, "sameSize": h.flags&8 != 0}
}
