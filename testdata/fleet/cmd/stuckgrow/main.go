// stuckgrow: a map whose growth started and then never finished. Phase 1
// inserts keys one at a time and stops writing the moment a classic map
// starts a grow (hmap.oldbuckets != nil) after at least minKeys keys. Classic
// maps evacuate only on assign/delete, so later phases, which only read,
// leave oldbuckets and nevacuate where they are. Swiss tables have no
// incremental growth; there phase 1 inserts the same number of keys a classic
// map needs to start growing from B=12 (13*2^12/2 + 1).
package main

import "goinspect.test/fleet/internal/fleetkit"

const (
	minKeys    = 20_000
	swissCount = 13*(1<<12)/2 + 1
)

var (
	stuck    = map[int64]int64{}
	inserted int
	sum      int64
)

func step(phase int) {
	if phase == 1 {
		for k := int64(0); ; k++ {
			stuck[k] = k * 3 // site: map_growth
			inserted++
			if (inserted >= minKeys && fleetkit.Growing(stuck)) || inserted >= 1<<22 {
				return
			}
			if fleetkit.Impl() == "swiss" && inserted == swissCount {
				return
			}
		}
	}
	for k := int64(0); k < int64(inserted); k++ {
		sum += stuck[k] // reads never evacuate
	}
}

func main() {
	fleetkit.Map("main.stuck", &stuck)
	if fleetkit.Impl() == "classic" {
		fleetkit.Expect("main.stuck", "growing", "writes stopped the moment a grow began: oldbuckets stay, nevacuate never moves")
	} else {
		fleetkit.Expect("main.stuck", "healthy", "Swiss tables grow in one step: the same inserts leave nothing half-done; reads only after")
	}
	fleetkit.ExpectFrom(1)
	fleetkit.Extra("inserted", func() any { return inserted })
	fleetkit.Extra("growing", func() any { return fleetkit.Growing(stuck) })
	fleetkit.Run(step)
}
