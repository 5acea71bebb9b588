package fleetkit

import (
	"fmt"
	"reflect"
	"runtime"
	"sort"
	"unsafe"
)

// Truth is the /truth document: what the program itself knows about its state.
type Truth struct {
	GoVersion string                `json:"go_version"`
	Impl      string                `json:"impl"` // "classic" (hmap) or "swiss" (internal/runtime/maps)
	Phase     int                   `json:"phase"`
	Maps      map[string]MapTruth   `json:"maps"`
	Slices    map[string]SliceTruth `json:"slices"`
	Extra     map[string]any        `json:"extra"`
	MemStats  MemStatsTruth         `json:"memstats"`
	// What goinspect must conclude (fleetkit.Expect): verdict and reason by name, from phase ExpectFrom on.
	Expect        map[string]string `json:"expect"`
	ExpectReasons map[string]string `json:"expect_reasons"`
	ExpectFrom    int               `json:"expect_from_phase"`
}

// MapTruth is one map global: len from the language, the rest read through unsafe.
type MapTruth struct {
	Len      int            `json:"len"`
	Key      string         `json:"key"`
	Elem     string         `json:"elem"`
	KeySize  uintptr        `json:"key_size"`
	ElemSize uintptr        `json:"elem_size"`
	Addr     string         `json:"addr"` // the header: *hmap or *maps.Map
	Header   map[string]any `json:"header"`
	Tables   []TableTruth   `json:"tables"` // Swiss maps only: each distinct table once
	Type     map[string]any `json:"type"`   // from the map's type descriptor (bucket_size / group_size)
	Walk     map[string]any `json:"walk"`   // counts found by walking the buckets/tables via unsafe
}

// SliceTruth is one slice global: its header.
type SliceTruth struct {
	Len      int     `json:"len"`
	Cap      int     `json:"cap"`
	Elem     string  `json:"elem"`
	ElemSize uintptr `json:"elem_size"`
	Array    string  `json:"array"`
}

// MemStatsTruth is runtime.ReadMemStats at the time of the truth read.
type MemStatsTruth struct {
	HeapAlloc   uint64 `json:"heap_alloc"`
	HeapInuse   uint64 `json:"heap_inuse"`
	HeapObjects uint64 `json:"heap_objects"`
	TotalAlloc  uint64 `json:"total_alloc"`
	Mallocs     uint64 `json:"mallocs"`
	NumGC       uint32 `json:"num_gc"`
}

var (
	mapReaders   = map[string]func() MapTruth{}
	sliceReaders = map[string]func() SliceTruth{}
	extras       = map[string]func() any{}
)

// Map registers the package-level map *p under its qualified Go name (e.g. "main.sessions").
// The pointer is kept, not the map, so reassigning the global is seen.
func Map[K comparable, V any](name string, p *map[K]V) {
	mapReaders[name] = func() MapTruth { return MapOf(*p) }
}

// MapAt registers a map the program reaches through its own globals each time (get reads it, e.g.
// svc.shards[i].seen): unlike Map's pointer into a heap object, the harness then holds nothing that
// leads to the program's heap, so its registry adds no path to the maps goinspect judges.
func MapAt[K comparable, V any](name string, get func() map[K]V) {
	mapReaders[name] = func() MapTruth { return MapOf(get()) }
}

// MapOf is map m's truth now: len from the language, the rest read through unsafe.
func MapOf[K comparable, V any](m map[K]V) MapTruth {
	t := reflect.TypeOf(m)
	mt := MapTruth{
		Len:      len(m),
		Key:      t.Key().String(),
		Elem:     t.Elem().String(),
		KeySize:  t.Key().Size(),
		ElemSize: t.Elem().Size(),
		Tables:   []TableTruth{},
	}
	hdr := *(*unsafe.Pointer)(unsafe.Pointer(&m))
	mt.Addr = hex(hdr)
	var iface any = m
	typ := (*[2]unsafe.Pointer)(unsafe.Pointer(&iface))[0]
	readMap(&mt, hdr, typ)
	return mt
}

// Slice registers the package-level slice *p under its qualified Go name.
func Slice[T any](name string, p *[]T) {
	sliceReaders[name] = func() SliceTruth { return SliceOf(*p) }
}

// SliceAt is MapAt for a slice.
func SliceAt[T any](name string, get func() []T) {
	sliceReaders[name] = func() SliceTruth { return SliceOf(get()) }
}

// SliceOf is slice s's header now.
func SliceOf[T any](s []T) SliceTruth {
	var zero T
	return SliceTruth{
		Len:      len(s),
		Cap:      cap(s),
		Elem:     reflect.TypeOf(&zero).Elem().String(),
		ElemSize: unsafe.Sizeof(zero),
		Array:    hex(unsafe.Pointer(unsafe.SliceData(s))),
	}
}

// Extra registers a program-specific fact (e.g. the LRU capacity) reported under "extra".
func Extra(name string, f func() any) { extras[name] = f }

// Phase is the number of steps run so far.
func Phase() int { return phase }

func collect() Truth {
	t := Truth{
		GoVersion: runtime.Version(),
		Impl:      mapImpl,
		Phase:     phase,
		Maps:      map[string]MapTruth{},
		Slices:    map[string]SliceTruth{},
		Extra:     map[string]any{},
	}
	for _, name := range sortedKeys(mapReaders) {
		t.Maps[name] = mapReaders[name]()
	}
	for _, name := range sortedKeys(sliceReaders) {
		t.Slices[name] = sliceReaders[name]()
	}
	for _, name := range sortedKeys(extras) {
		t.Extra[name] = extras[name]()
	}
	t.Expect, t.ExpectReasons, t.ExpectFrom = expected()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.MemStats = MemStatsTruth{ms.HeapAlloc, ms.HeapInuse, ms.HeapObjects, ms.TotalAlloc, ms.Mallocs, ms.NumGC}
	return t
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func hex(p unsafe.Pointer) string { return fmt.Sprintf("%#x", uintptr(p)) }

// rtype mirrors internal/abi.Type (identical layout in Go 1.21 ... 1.27).
type rtype struct {
	size       uintptr
	ptrBytes   uintptr
	hash       uint32
	tflag      uint8
	align      uint8
	fieldAlign uint8
	kind       uint8
	equal      unsafe.Pointer
	gcdata     unsafe.Pointer
	str        int32
	ptrToThis  int32
}

// mapTypeHead mirrors the common prefix of abi.MapType (classic: Bucket; Swiss: Group).
type mapTypeHead struct {
	rtype
	key, elem, bucketOrGroup *rtype
	hasher                   unsafe.Pointer
}

// TableTruth is one distinct Swiss table (directory entries that repeat it are counted in DirRefs).
type TableTruth struct {
	Addr       string      `json:"addr"`
	Used       uint16      `json:"used"`
	Capacity   uint16      `json:"capacity"`
	GrowthLeft uint16      `json:"growthLeft"`
	LocalDepth uint8       `json:"localDepth"`
	Index      int         `json:"index"`
	Groups     GroupsTruth `json:"groups"`
	DirRefs    int         `json:"dir_refs"`
	Live       int         `json:"live"`       // full ctrl bytes counted by walking the groups
	Tombstones int         `json:"tombstones"` // ctrlDeleted bytes counted by walking the groups
}

// GroupsTruth mirrors maps.groupsReference.
type GroupsTruth struct {
	Data       string `json:"data"`
	LengthMask uint64 `json:"lengthMask"`
}

// Impl is "classic" or "swiss": the map implementation this binary was built with.
func Impl() string { return mapImpl }

// ClassicMaxLoad is the most entries a classic map with 2^b buckets holds
// without growing (runtime.overLoadFactor with this Go version's constants).
// Programs size maps with it so they sit exactly at the edge on every version.
func ClassicMaxLoad(b uint) int { return classicLoadFactorNum * ((1 << b) / 2) }
