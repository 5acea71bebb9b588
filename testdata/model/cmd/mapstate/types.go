package main

import "unsafe"

// rtype mirrors the head of internal/abi.Type (48 bytes on 64-bit targets).
type rtype struct {
	size     uintptr
	ptrBytes uintptr
	hash     uint32
	tflag    uint8
	align    uint8
	fieldAl  uint8
	kind     uint8
	equal    unsafe.Pointer
	gcdata   unsafe.Pointer
	str      int32
	ptrThis  int32
}

// typeOf returns the type descriptor of the value held in an interface.
func typeOf(v any) unsafe.Pointer {
	return (*[2]unsafe.Pointer)(unsafe.Pointer(&v))[0]
}

type ptrs struct {
	p *int
	n int32
}

// mapTypes are the K/V shapes whose bucket or group layout the compiler's descriptor is read for:
// alignment padding, zero-size elems, indirect (> 128 byte) keys and elems, pointerful types.
var mapTypes = []struct {
	key, elem string
	m         any
}{
	{"int64", "int64", map[int64]int64{}},
	{"int32", "int8", map[int32]int8{}},
	{"int8", "int64", map[int8]int64{}},
	{"uint16", "[5]int32", map[uint16][5]int32{}},
	{"[3]byte", "uint16", map[[3]byte]uint16{}},
	{"complex64", "bool", map[complex64]bool{}},
	{"complex128", "float32", map[complex128]float32{}},
	{"int64", "struct{}", map[int64]struct{}{}},
	{"string", "*int", map[string]*int{}},
	{"string", "[]byte", map[string][]byte{}},
	{"any", "float64", map[any]float64{}},
	{"int64", "[200]byte", map[int64][200]byte{}},
	{"[130]byte", "int64", map[[130]byte]int64{}},
	{"[16]int64", "[16]int64", map[[16]int64][16]int64{}},
	{"uintptr", "[3]*int", map[uintptr][3]*int{}},
	{"rune", "error", map[rune]error{}},
}

func reportTypes() {
	for _, t := range mapTypes {
		f := describeType(typeOf(t.m))
		f["key"], f["elem"] = t.key, t.elem
		emit("maptype", f)
	}
}
