package fleetkit

import "sync/atomic"

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
// compiler gives the variable no DWARF location there: goinspect cannot find that one.)
func StackMap[K comparable, V any](name string) func(map[K]V) {
	var latest atomic.Pointer[MapTruth]
	mapReaders[name] = func() MapTruth {
		if t := latest.Load(); t != nil {
			return *t
		}
		return MapTruth{Tables: []TableTruth{}}
	}
	return func(m map[K]V) {
		t := MapOf(m)
		latest.Store(&t)
	}
}

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
