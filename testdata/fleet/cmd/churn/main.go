// churn: bounded churn. Every step admits perStep requests, each with a fresh
// payload, and retires the oldest so at most window stay in flight: lots is
// allocated and dropped, while what is in use stays flat. main.batch is a
// reused slice (truncated, appended to) whose capacity stops growing.
// main.recent is a sliding window of the last recentLen requests kept as
// recent = append(recent[1:], r): the popped ones stay in the array's prefix
// (the GC still sees them) until append reallocates -- bounded, not a leak.
// main.page and main.tally are rebuilt, not updated: every step makes a fresh
// 64 KiB page and a fresh 4096-entry map and drops the previous ones. Neither
// holds a pointer, so only their own (large) allocation changing says churn.
package main

import (
	"math/rand"

	"goinspect.test/fleet/internal/fleetkit"
)

const (
	perStep     = 1000
	window      = 2000
	payloadSize = 1024
	recentLen   = 256
	pageSize    = 64 << 10
	tallySize   = 4096
)

type request struct {
	id      int64
	payload []byte
}

var (
	inflight = map[int64]*request{}
	batch    []*request
	recent   = make([]*request, recentLen)
	page     []byte
	tally    map[int64]int64
	nextID   int64
	rng      = rand.New(rand.NewSource(3))
)

func step(phase int) {
	page = make([]byte, pageSize)
	page[rng.Intn(pageSize)] = 1
	tally = make(map[int64]int64, tallySize)
	for i := int64(0); i < tallySize; i++ {
		tally[i] = int64(phase) * i
	}
	batch = batch[:0]
	for i := 0; i < perStep; i++ {
		nextID++
		r := &request{id: nextID}             // site: request_new
		r.payload = make([]byte, payloadSize) // site: payload_make
		r.payload[rng.Intn(payloadSize)] = 1
		inflight[r.id] = r       // site: map_assign
		batch = append(batch, r) // site: batch_append
		recent = append(recent[1:], r)
		if old := nextID - window; old > 0 {
			delete(inflight, old)
		}
	}
}

func main() {
	fleetkit.Map("main.inflight", &inflight)
	fleetkit.Slice("main.batch", &batch)
	fleetkit.Slice("main.recent", &recent)
	fleetkit.Slice("main.page", &page)
	fleetkit.Map("main.tally", &tally)
	fleetkit.Expect("main.page", "churn", "a fresh 64 KiB page every step, the previous one dropped")
	fleetkit.Expect("main.tally", "churn", "a fresh 4096-entry map every step, the previous one dropped")
	fleetkit.Expect("main.inflight", "churn", "perStep requests admitted and retired every step; len stays window")
	fleetkit.Expect("main.batch", "churn", "reused slice whose elements are all fresh requests every step; len and cap stay")
	fleetkit.Expect("main.recent", "churn", "a sliding window: every step pushes perStep fresh requests and pops as many; len stays recentLen")
	fleetkit.ExpectFrom(2)
	fleetkit.Extra("per_step", func() any { return perStep })
	fleetkit.Extra("window", func() any { return window })
	fleetkit.Extra("payload_size", func() any { return payloadSize })
	fleetkit.Extra("recent_len", func() any { return recentLen })
	fleetkit.Run(step)
}
