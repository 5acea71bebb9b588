// Command sites allocates at lines whose kind is known, marked "// kind: K", and writes
// its heap profile (MemProfileRate=1, or $SITES_MEMPROFILERATE) in both forms: proto to argv[1],
// ?debug=1 text to argv[2]. goinspect's attribution must label each marked line with K.
package main

import (
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
)

func init() {
	runtime.MemProfileRate = 1
	if rate, err := strconv.Atoi(os.Getenv("SITES_MEMPROFILERATE")); err == nil {
		runtime.MemProfileRate = rate
	}
}

type record struct {
	id   int64
	name string
	tags [6]int64
}

var (
	madeMap   map[int64]int64
	emptyMap  map[string]int
	grownMap  map[int64]*record
	grownSet  map[int64]struct{}
	appended  []record
	appendedP []*record
	made      []int64
	madeBytes [][]byte
	objects   []*record
)

//go:noinline
func makeMapWithHint() { madeMap = make(map[int64]int64, 5000) } // kind: map-buckets

//go:noinline
func makeEmptyMap() { emptyMap = map[string]int{} } // kind: map-header

//go:noinline
func growMap(n int) {
	grownMap = map[int64]*record{}
	for i := int64(0); i < int64(n); i++ {
		grownMap[i] = nil // kind: map-buckets
	}
}

//go:noinline
func growSet(n int) {
	grownSet = make(map[int64]struct{})
	for i := int64(0); i < int64(n); i++ {
		grownSet[i] = struct{}{} // kind: map-buckets
	}
}

//go:noinline
func appendRecords(n int) {
	for i := 0; i < n; i++ {
		appended = append(appended, record{id: int64(i)}) // kind: slice-growth
	}
}

//go:noinline
func appendPointers(n int) {
	for i := 0; i < n; i++ {
		appendedP = append(appendedP, nil) // kind: slice-growth
	}
}

//go:noinline
func makeSlices() {
	made = make([]int64, 100000) // kind: slice-make
	for i := 0; i < 20; i++ {
		madeBytes = append(madeBytes, nil)
		madeBytes[i] = make([]byte, 4096) // kind: slice-make
	}
}

//go:noinline
func newObjects(n int) {
	objects = make([]*record, n)
	for i := range objects {
		objects[i] = &record{id: int64(i)} // kind: other
	}
}

func main() {
	makeMapWithHint()
	makeEmptyMap()
	growMap(30000)
	growSet(30000)
	appendRecords(20000)
	appendPointers(20000)
	makeSlices()
	newObjects(1000)
	runtime.GC()
	for i, debug := range []int{0, 1} {
		f, err := os.Create(os.Args[1+i])
		if err != nil {
			panic(err)
		}
		if err := pprof.Lookup("heap").WriteTo(f, debug); err != nil {
			panic(err)
		}
		f.Close()
	}
}
