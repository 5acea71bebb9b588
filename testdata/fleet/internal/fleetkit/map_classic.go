//go:build !go1.26 && !(go1.24 && goexperiment.swissmap)

// Classic hash maps: every release up to Go 1.23, and Go 1.24/1.25 built with
// GOEXPERIMENT=noswissmap (Go 1.26 removed them). Mirrors runtime/map.go
// (runtime/map_noswiss.go in 1.24/1.25); the hmap struct itself differs by
// version and lives in hmap_go121.go / hmap_go124.go.

package fleetkit

import "unsafe"

const mapImpl = "classic"

// Constants from runtime/map.go.
const (
	bucketCnt      = 8
	minTopHash     = 5 // tophash >= minTopHash: a live entry
	emptyOne       = 1
	flagSameSize   = 8 // hmap.flags sameSizeGrow
	maxChainWalked = 1 << 16
)

// mapextra mirrors runtime.mapextra.
type mapextra struct {
	overflow     *[]unsafe.Pointer
	oldoverflow  *[]unsafe.Pointer
	nextOverflow unsafe.Pointer
}

// classicMapType mirrors internal/abi.MapType (abi.OldMapType in 1.24/1.25).
type classicMapType struct {
	mapTypeHead
	keySize    uint8
	valueSize  uint8
	bucketSize uint16
	flags      uint32
}

func readMap(mt *MapTruth, hdr, typ unsafe.Pointer) {
	ct := (*classicMapType)(typ)
	if uintptr(ct.bucketSize) != ct.bucketOrGroup.size {
		// The mirror no longer matches this runtime: fail loudly rather than report garbage.
		panic("fleetkit: abi.MapType mirror is wrong for this Go version")
	}
	mt.Type = map[string]any{
		"bucket_size":         ct.bucketSize,
		"key_slot_size":       ct.keySize,
		"elem_slot_size":      ct.valueSize,
		"indirect_key":        ct.flags&1 != 0,
		"indirect_elem":       ct.flags&2 != 0,
		"bucket_has_pointers": ct.bucketOrGroup.ptrBytes != 0,
	}
	if hdr == nil {
		return // nil map: no header at all
	}
	h := (*hmap)(hdr)
	header := map[string]any{
		"count":      h.count,
		"flags":      h.flags,
		"B":          h.B,
		"noverflow":  h.noverflow,
		"hash0":      h.hash0,
		"buckets":    hex(h.buckets),
		"oldbuckets": hex(h.oldbuckets),
		"nevacuate":  h.nevacuate,
		"extra":      hex(unsafe.Pointer(h.extra)),
	}
	if cs, ok := h.clearSeqField(); ok {
		header["clearSeq"] = cs
	}
	if x := h.extra; x != nil {
		header["mapextra"] = map[string]any{
			"overflow":        hex(unsafe.Pointer(x.overflow)),
			"oldoverflow":     hex(unsafe.Pointer(x.oldoverflow)),
			"nextOverflow":    hex(x.nextOverflow),
			"overflow_len":    lenOrNil(x.overflow),
			"oldoverflow_len": lenOrNil(x.oldoverflow),
		}
	}
	mt.Header = header
	mt.Walk = walkClassic(h, uintptr(ct.bucketSize))
}

func lenOrNil(p *[]unsafe.Pointer) any {
	if p == nil {
		return nil
	}
	return len(*p)
}

// walkClassic counts, by following bucket chains, the overflow buckets and
// live entries of the current and (not yet evacuated) old bucket arrays. The
// live total must equal hmap.count: a check that the mirror reads the right fields.
func walkClassic(h *hmap, bucketSize uintptr) map[string]any {
	nb := uintptr(1) << h.B
	ovf, live := walkBuckets(h.buckets, nb, bucketSize, false)
	w := map[string]any{
		"buckets":          nb,
		"overflow_buckets": ovf,
		"live":             live,
	}
	if h.oldbuckets != nil {
		nold := nb / 2
		if h.flags&flagSameSize != 0 {
			nold = nb
		}
		oovf, olive := walkBuckets(h.oldbuckets, nold, bucketSize, true)
		w["oldbuckets_count"] = nold
		w["old_overflow_buckets"] = oovf
		w["old_live_unevacuated"] = olive
		w["evacuated_old_buckets"] = countEvacuated(h.oldbuckets, nold, bucketSize)
		w["live"] = live + olive
	}
	return w
}

func walkBuckets(arr unsafe.Pointer, n, bucketSize uintptr, skipEvacuated bool) (overflow, live int) {
	if arr == nil {
		return 0, 0
	}
	for i := uintptr(0); i < n; i++ {
		b := unsafe.Add(arr, i*bucketSize)
		if skipEvacuated && isEvacuated(b) {
			continue
		}
		for depth := 0; b != nil && depth < maxChainWalked; depth++ {
			if depth > 0 {
				overflow++
			}
			tophash := (*[bucketCnt]uint8)(b)
			for _, th := range tophash {
				if th >= minTopHash {
					live++
				}
			}
			b = *(*unsafe.Pointer)(unsafe.Add(b, bucketSize-unsafe.Sizeof(uintptr(0))))
		}
	}
	return overflow, live
}

// isEvacuated mirrors runtime.evacuated: tophash[0] is evacuatedX, evacuatedY or evacuatedEmpty.
func isEvacuated(b unsafe.Pointer) bool {
	th := *(*uint8)(b)
	return th > emptyOne && th < minTopHash
}

func countEvacuated(arr unsafe.Pointer, n, bucketSize uintptr) int {
	c := 0
	for i := uintptr(0); i < n; i++ {
		if isEvacuated(unsafe.Add(arr, i*bucketSize)) {
			c++
		}
	}
	return c
}

// Growing reports whether m is part-way through a grow (hmap.oldbuckets != nil).
// Programs use it to stop writing at exactly that moment.
func Growing[K comparable, V any](m map[K]V) bool {
	h := *(**hmap)(unsafe.Pointer(&m))
	return h != nil && h.oldbuckets != nil
}
