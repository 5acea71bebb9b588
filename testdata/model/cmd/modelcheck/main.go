// Command modelcheck prints, as JSON lines, what the Go runtime really does for
// slice growth and map layouts, so goinspect's pure model can be checked against it:
//
//   - "caps": the capacities cap(s) takes while appending one element at a time;
//   - "alloc": every allocation a scenario made (block size from runtime.MemProfile
//     at MemProfileRate=1, and the runtime frames above the scenario function);
//   - "map": map header fields read through unsafe (layout-specific file).
//
// Scenario functions are named main.scn_<name> so their allocations can be found
// in the memory profile.
package main

import (
	"encoding/json"
	"os"
	"runtime"
	"strings"
)

func init() { runtime.MemProfileRate = 1 }

var out = json.NewEncoder(os.Stdout)

var (
	sinkB1   [][1]byte
	sinkI64  []int64
	sinkN24  [][3]int64
	sinkP8   []*int
	sinkP24  []ptr24
	sinkN100 [][100]byte
	sinkP200 []ptr200
	sinkP600 []ptr600
	madeI64  [7][]int64
	madeP8   [7][]*int
	madeP24  [7][]ptr24
)

type ptr24 struct {
	p    *int
	a, b int64
}
type ptr200 struct {
	p *int
	a [24]int64
}
type ptr600 struct {
	p *int
	a [74]int64
}

const (
	appends     = 5000
	appendsP600 = 300
)

var escaped any

func capsOf[T any](name string, elem uintptr, pointers bool) {
	var s []T
	var zero T
	caps := []int{}
	for i := 0; i < appends; i++ {
		s = append(s, zero)
		if len(caps) == 0 || caps[len(caps)-1] != cap(s) {
			caps = append(caps, cap(s))
		}
	}
	escaped = s // the slice escapes, as in a real service: heap growslice, no stack buffer (Go 1.25+)
	out.Encode(map[string]any{"type": "caps", "name": name, "elem": elem, "pointers": pointers, "caps": caps})
}

// Each scn_append_* grows one slice to `appends` elements and keeps it.
//
//go:noinline
func scn_append_b1() {
	for i := 0; i < appends; i++ {
		sinkB1 = append(sinkB1, [1]byte{})
	}
}

//go:noinline
func scn_append_i64() {
	for i := 0; i < appends; i++ {
		sinkI64 = append(sinkI64, 0)
	}
}

//go:noinline
func scn_append_n24() {
	for i := 0; i < appends; i++ {
		sinkN24 = append(sinkN24, [3]int64{})
	}
}

//go:noinline
func scn_append_p8() {
	for i := 0; i < appends; i++ {
		sinkP8 = append(sinkP8, nil)
	}
}

//go:noinline
func scn_append_p24() {
	for i := 0; i < appends; i++ {
		sinkP24 = append(sinkP24, ptr24{})
	}
}

//go:noinline
func scn_append_n100() {
	for i := 0; i < appends; i++ {
		sinkN100 = append(sinkN100, [100]byte{})
	}
}

//go:noinline
func scn_append_p200() {
	for i := 0; i < appends; i++ {
		sinkP200 = append(sinkP200, ptr200{})
	}
}

//go:noinline
func scn_append_p600() {
	for i := 0; i < appendsP600; i++ {
		sinkP600 = append(sinkP600, ptr600{})
	}
}

// The same loop on a local slice that escapes only afterwards: Go 1.26+ runs it on a
// 32-byte stack buffer (growsliceBuf) and the heap growth starts from that capacity.
//
//go:noinline
func scn_stackbuf_i64() {
	var s []int64
	for i := 0; i < appends; i++ {
		s = append(s, 0)
	}
	sinkStack = s
}

var sinkStack []int64

// make([]T, n) asks for exactly n*size bytes.
//
//go:noinline
func scn_make_slices() {
	for i, n := range makeLens {
		madeI64[i], madeP8[i], madeP24[i] = make([]int64, n), make([]*int, n), make([]ptr24, n)
	}
}

// makeLens are the lengths scn_make_slices uses.
var makeLens = [7]int{1, 3, 100, 1000, 4095, 5000, 100000}

// Hints of the make(map, hint) scenarios.
var (
	hintsI64 = [6]int{9, 14, 100, 1000, 5000, 100000}
	hintsPtr = [4]int{9, 100, 1000, 5000}
	hintsBig = [3]int{9, 100, 3000}
	mapsI64  [6]map[int64]int64
	mapsPtr  [4]map[string]*int
	mapsBig  [3]map[int64][200]byte
	insI64   map[int64]int64
	insPtr   map[int64]*int
)

// heldOf reports what a map built by a scenario holds, for comparing its live heap bytes
// (memory-profile in-use bytes of that scenario) with the model.
func reportHeld[V any](scenario string, m map[int64]V) {
	f := heldFields(m)
	f["type"], f["scenario"] = "held", scenario
	out.Encode(f)
}

// make(map, hint) for several hints and K/V shapes.
//
//go:noinline
func scn_make_map_i64() {
	for i, h := range hintsI64 {
		mapsI64[i] = make(map[int64]int64, h)
	}
}

//go:noinline
func scn_make_map_ptr() {
	for i, h := range hintsPtr {
		mapsPtr[i] = make(map[string]*int, h)
	}
}

//go:noinline
func scn_make_map_big() {
	for i, h := range hintsBig {
		mapsBig[i] = make(map[int64][200]byte, h)
	}
}

// Inserting into an empty map: growth from nothing.
//
//go:noinline
func scn_insert_i64() {
	m := map[int64]int64{}
	for i := int64(0); i < 20000; i++ {
		m[i] = i
	}
	insI64 = m
}

//go:noinline
func scn_insert_ptr() {
	m := map[int64]*int{}
	for i := int64(0); i < 20000; i++ {
		m[i] = nil
	}
	insPtr = m
}

func main() {
	out.Encode(map[string]any{"type": "params", "appends": appends, "appendsP600": appendsP600, "makeLens": makeLens,
		"hintsI64": hintsI64, "hintsPtr": hintsPtr, "hintsBig": hintsBig, "inserts": 20000})
	capsOf[[1]byte]("b1", 1, false)
	capsOf[int64]("i64", 8, false)
	capsOf[[3]int64]("n24", 24, false)
	capsOf[*int]("p8", 8, true)
	capsOf[ptr24]("p24", 24, true)
	capsOf[[100]byte]("n100", 100, false)
	capsOf[ptr200]("p200", 200, true)
	capsOf[ptr600]("p600", 600, true)
	scn_append_b1()
	scn_append_i64()
	scn_append_n24()
	scn_append_p8()
	scn_append_p24()
	scn_append_n100()
	scn_append_p200()
	scn_append_p600()
	scn_stackbuf_i64()
	scn_make_slices()
	scn_make_map_i64()
	scn_make_map_ptr()
	scn_make_map_big()
	scn_insert_i64()
	scn_insert_ptr()
	reportMaps()
	runtime.GC()
	reportHeld("insert_i64", insI64)
	reportHeld("insert_ptr", insPtr)
	reportAllocs()
}

// reportAllocs prints one line per memory-profile record made inside a scenario.
func reportAllocs() {
	var recs []runtime.MemProfileRecord
	n, _ := runtime.MemProfile(nil, true)
	for {
		recs = make([]runtime.MemProfileRecord, n+50)
		var ok bool
		n, ok = runtime.MemProfile(recs, true)
		if ok {
			recs = recs[:n]
			break
		}
	}
	for _, r := range recs {
		frames := runtime.CallersFrames(r.Stack())
		var chain []string
		scenario := ""
		for {
			f, more := frames.Next()
			if strings.HasPrefix(f.Function, "main.scn_") {
				scenario = strings.TrimPrefix(f.Function, "main.scn_")
				break
			}
			chain = append(chain, f.Function)
			if !more {
				break
			}
		}
		if scenario == "" || r.AllocObjects == 0 {
			continue
		}
		out.Encode(map[string]any{"type": "alloc", "scenario": scenario,
			"block": r.AllocBytes / r.AllocObjects, "objects": r.AllocObjects, "frames": chain,
			"inuseBytes": r.InUseBytes()})
	}
}
