// deletedmap: a map grown to fillN entries, then emptied by deleting every
// key. Go maps never shrink, so main.cache keeps its bucket array (classic) or
// its tables (Swiss) at full size while len is 0. main.rebuilt goes through
// the same fill and is then replaced by a fresh map: the fix, for contrast.
//
// Phases: 1 fills both maps, 2 deletes everything, 3+ only read (no writes).
package main

import "goinspect.test/fleet/internal/fleetkit"

// fillN is far enough past the B=12 -> 13 grow (26625 keys; 24577 in Go 1.21)
// for the evacuation to finish, and below the next one (53249; 49153).
const fillN = 40_000

type entry struct {
	id   int64
	blob [40]byte
}

var (
	cache   = map[int64]*entry{}
	rebuilt = map[int64]*entry{}
	lookups int
)

func step(phase int) {
	switch phase {
	case 1:
		for i := int64(0); i < fillN; i++ {
			e := &entry{id: i} // site: entry_new
			cache[i] = e       // site: map_growth
			rebuilt[i] = e     // site: rebuilt_growth
		}
	case 2:
		for i := int64(0); i < fillN; i++ {
			delete(cache, i)
		}
		rebuilt = map[int64]*entry{} // site: rebuilt_fresh
	default:
		for i := int64(0); i < fillN; i += 97 {
			if _, ok := cache[i]; ok {
				lookups++
			}
		}
	}
}

func main() {
	fleetkit.Map("main.cache", &cache)
	fleetkit.Map("main.rebuilt", &rebuilt)
	fleetkit.Expect("main.cache", "retained-capacity", "emptied by delete after holding fillN entries: its buckets/tables stay")
	fleetkit.Expect("main.rebuilt", "healthy", "replaced by a fresh map after the same fill; nothing written after")
	fleetkit.ExpectFrom(2)
	fleetkit.Extra("fill_n", func() any { return fillN })
	fleetkit.Run(step)
}
