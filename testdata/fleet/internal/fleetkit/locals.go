package fleetkit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
)

// StackMap registers, under name (goinspect's "pkg.Func.var"), a map that lives only in a
// goroutine's local variable. The owning goroutine calls the returned function with the map
// after each change: the truth is computed there, by the owner, and only the figures are kept,
// so the program holds no second reference to the map and never takes the local's address
// (either would move the map or the variable off the goroutine's stack).
// Register before starting the goroutine (the registry is not locked).
//
// Hand the publisher to the goroutine as a function value: a map passed to a call escape analysis
// cannot see through escapes, so its header is a heap object the local points to, as in most real
// programs. (A map whose make() does not escape gets its header in the frame itself, and the
// compiler gives the variable no DWARF location: its truth cannot come from here, since passing
// it would make it escape -- stackmap's main.counter publishes len(m) instead.)
//
// The figures are kept as JSON in a fixed buffer, not as a MapTruth: a Swiss map's truth lists
// its tables, and a harness holding a list that grows with the program's leak would itself look
// like a leak. The buffer's size is constant, whatever the map does.
func StackMap[K comparable, V any](name string) func(map[K]V) {
	var (
		mu  sync.Mutex
		buf = new([localTruthBytes]byte)
		n   int
	)
	mapReaders[name] = func() MapTruth {
		mu.Lock()
		defer mu.Unlock()
		mt := MapTruth{Tables: []TableTruth{}}
		if n > 0 {
			dec := json.NewDecoder(bytes.NewReader(buf[:n]))
			dec.UseNumber() // header fields round-trip digit for digit
			if err := dec.Decode(&mt); err != nil {
				panic(fmt.Sprintf("fleetkit: cannot decode the kept truth of %s: %v", name, err))
			}
		}
		return mt
	}
	return func(m map[K]V) {
		data, err := json.Marshal(MapOf(m))
		if err != nil || len(data) > localTruthBytes {
			panic(fmt.Sprintf("fleetkit: the truth of %s does not fit in %d bytes (%v)", name, localTruthBytes, err))
		}
		mu.Lock()
		n = copy(buf[:], data)
		mu.Unlock()
	}
}

// localTruthBytes bounds one stack map's kept truth (~200 bytes per Swiss table: 300 tables).
const localTruthBytes = 64 << 10

// StackSlice is StackMap for a slice held in a goroutine's local variable.
func StackSlice[T any](name string) func([]T) {
	var latest atomic.Pointer[SliceTruth]
	sliceReaders[name] = func() SliceTruth {
		if t := latest.Load(); t != nil {
			return *t
		}
		return SliceTruth{}
	}
	return func(s []T) {
		t := SliceOf(s)
		latest.Store(&t)
	}
}
