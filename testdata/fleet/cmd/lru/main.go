// lru: a bounded LRU cache (map + container/list) at steady state. Every step
// runs opsPerStep lookups over a key space larger than the capacity; a miss
// inserts a fresh value and evicts the least recently used entry beyond
// capacity, so len(main.index) never exceeds capacity although values churn.
package main

import (
	"container/list"
	"math/rand"
	"unsafe"

	"goinspect.test/fleet/internal/fleetkit"
)

const (
	capacity   = 4096
	keySpace   = 20_000
	opsPerStep = 3000
	valueSize  = 256
)

type entry struct {
	key int64
	val []byte
}

var (
	index                   = map[int64]*list.Element{}
	order                   = list.New()
	rng                     = rand.New(rand.NewSource(11))
	hits, misses, evictions int
)

func get(key int64) []byte {
	if el, ok := index[key]; ok {
		hits++
		order.MoveToFront(el)
		return el.Value.(*entry).val
	}
	misses++
	e := &entry{key: key, val: make([]byte, valueSize)} // site: value_make
	index[key] = order.PushFront(e)                     // site: map_assign
	if order.Len() > capacity {
		last := order.Back()
		order.Remove(last)
		delete(index, last.Value.(*entry).key)
		evictions++
	}
	return e.val
}

func step(phase int) {
	for i := 0; i < opsPerStep; i++ {
		// Skewed toward small keys, so there are hits as well as misses.
		k := rng.Int63n(keySpace)
		if rng.Intn(2) == 0 {
			k %= capacity / 2
		}
		get(k)
	}
}

func main() {
	fleetkit.Map("main.index", &index)
	fleetkit.Expect("main.index", "churn", "bounded at capacity: misses insert fresh values and evict the least recently used")
	// Enough of each step's opsPerStep lookups miss that the cache is full by phase 2 and stays full.
	fleetkit.ExpectFrom(3)
	fleetkit.Extra("capacity", func() any { return capacity })
	fleetkit.Extra("list_len", func() any { return order.Len() })
	fleetkit.Extra("hits", func() any { return hits })
	fleetkit.Extra("misses", func() any { return misses })
	fleetkit.Extra("evictions", func() any { return evictions })
	fleetkit.Extra("object_sizes", func() any { // bytes of what one cached entry holds, and of the list itself
		return map[string]uintptr{"element": unsafe.Sizeof(list.Element{}), "entry": unsafe.Sizeof(entry{}),
			"value": valueSize, "list": unsafe.Sizeof(list.List{})}
	})
	fleetkit.Run(step)
}
