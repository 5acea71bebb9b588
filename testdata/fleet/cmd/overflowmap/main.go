// overflowmap: an overflow-heavy map that never grows. Phase 1 sizes the map
// for exactly fillN entries (B=10 on classic maps, where fillN = 6.5*2^10 is
// the most a B=10 map holds without growing) and fills it: at 6.5 keys per
// 8-slot bucket on average, a fifth of the buckets overflow. Later phases
// retire the oldest churnN keys and admit churnN new ones, so len stays fillN
// while keys land in full chains and add overflow buckets. The values hold
// pointers, so (unlike ptrfreemap) overflow buckets are not listed in mapextra.
package main

import "goinspect.test/fleet/internal/fleetkit"

const (
	fillN  = 13 * (1 << 10) / 2
	churnN = 300
)

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
	fleetkit.Extra("fill_n", func() any { return fillN })
	fleetkit.Extra("churn_n", func() any { return churnN })
	fleetkit.Run(step)
}
