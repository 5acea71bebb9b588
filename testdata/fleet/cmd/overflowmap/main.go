// overflowmap: an overflow-heavy map that never grows. Phase 1 sizes the map
// for exactly fillN entries, the most a classic map with 2^10 buckets holds
// without growing (6.5 per bucket; 6 in Go 1.21), and fills it: at that load
// a fifth of the 8-slot buckets overflow. Later phases
// retire the oldest churnN keys and admit churnN new ones, so len stays fillN
// while keys land in full chains and add overflow buckets. The values hold
// pointers, so (unlike ptrfreemap) overflow buckets are not listed in mapextra.
package main

import "goinspect.test/fleet/internal/fleetkit"

const (
	churnN = 300
)

var fillN = int64(fleetkit.ClassicMaxLoad(10))

type item struct {
	key int64
	val int64
}

var (
	table  map[int64]*item
	oldest int64
	next   int64
)

func step(phase int) {
	if phase == 1 {
		table = make(map[int64]*item, fillN) // site: map_make
		for ; next < fillN; next++ {
			table[next] = &item{key: next} // site: map_fill
		}
		return
	}
	for i := 0; i < churnN; i++ {
		delete(table, oldest)
		oldest++
		table[next] = &item{key: next} // site: map_churn
		next++
	}
}

func main() {
	fleetkit.Map("main.table", &table)
	fleetkit.Expect("main.table", "churn", "every step retires the oldest churnN keys and admits churnN new values; len stays fillN")
	fleetkit.ExpectFrom(1)
	fleetkit.Extra("fill_n", func() any { return fillN })
	fleetkit.Extra("churn_n", func() any { return churnN })
	fleetkit.Run(step)
}
