// ptrfreemap: a pointer-free map (map[int64]int64) with overflow buckets. Its
// classic bucket type holds no pointers, so the GC does not scan the buckets
// and the overflow buckets are kept alive only through hmap.extra.overflow,
// which must be non-nil and list every one of them. Phase 1 fills fillN
// counters (the most a 2^10-bucket classic map holds, so no grow is left
// half-done); later phases only update existing keys (no new entries, no growth).
package main

import (
	"math/rand"

	"goinspect.test/fleet/internal/fleetkit"
)

const (
	updates = 5000
)

var fillN = int64(fleetkit.ClassicMaxLoad(10))

var (
	counters = map[int64]int64{}
	rng      = rand.New(rand.NewSource(5))
)

func step(phase int) {
	if phase == 1 {
		for k := int64(0); k < fillN; k++ {
			counters[k] = 0 // site: map_growth
		}
		return
	}
	for i := 0; i < updates; i++ {
		counters[rng.Int63n(fillN)]++
	}
}

func main() {
	fleetkit.Map("main.counters", &counters)
	fleetkit.Expect("main.counters", "healthy", "filled once; later steps only update existing counters in place")
	fleetkit.ExpectFrom(1)
	fleetkit.Extra("fill_n", func() any { return fillN })
	fleetkit.Run(step)
}
