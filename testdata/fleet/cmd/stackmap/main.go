// stackmap: a map and a slice that live only in a goroutine's local variables.
//
// main.owner runs in its own goroutine and keeps pending (a map that leaks:
// every step adds perStep records, none is ever deleted) and history (a slice
// appended to every step) in locals. Between steps it is parked on a channel
// receive, so both are found only by unwinding its stack: goinspect names them
// main.owner.pending and main.owner.history, root "stack". No global, heap
// object or closure refers to either; their truth is computed by the owner
// itself (fleetkit.StackMap / StackSlice) without taking the locals' addresses.
package main

import "goinspect.test/fleet/internal/fleetkit"

const perStep = 500

type record struct {
	id      int64
	payload [40]byte
}

// owner is the goroutine holding the locals. publish is called with the map and
// slice after each step (and once at the start); being a parameter, it is opaque
// to escape analysis, so pending's header is a heap object (as in most real
// programs: a map that is passed anywhere escapes) that only this frame points to.
func owner(work <-chan int, done chan<- struct{}, publishMap func(map[int64]*record), publishSlice func([]int64)) {
	pending := make(map[int64]*record) // site: stack_map
	var history []int64
	var next int64
	publishMap(pending)
	publishSlice(history)
	for n := range work {
		for i := 0; i < n; i++ {
			next++
			pending[next] = &record{id: next} // site: stack_map_growth
			history = append(history, next)   // site: stack_slice_growth
		}
		publishMap(pending)
		publishSlice(history)
		done <- struct{}{}
	}
}

var (
	work = make(chan int)
	done = make(chan struct{})
)

func step(phase int) {
	work <- perStep
	<-done
}

func main() {
	publishMap := fleetkit.StackMap[int64, *record]("main.owner.pending")
	publishSlice := fleetkit.StackSlice[int64]("main.owner.history")
	go owner(work, done, publishMap, publishSlice)
	fleetkit.Extra("per_step", func() any { return perStep })
	fleetkit.Expect("main.owner.pending", "leak", "a goroutine's local map: every step adds perStep records, none is ever deleted")
	fleetkit.Expect("main.owner.history", "leak", "a goroutine's local slice: every step appends perStep ids, none is ever dropped")
	fleetkit.Run(step)
}
