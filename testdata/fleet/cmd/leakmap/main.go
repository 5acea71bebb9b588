// leakmap: a map that leaks entries. Every step adds perStep new sessions and
// never deletes any, so len(main.sessions) == steps*perStep and the map's
// buckets (classic) or tables (Swiss) keep growing, as a forgotten cache does.
package main

import (
	"math/rand"
	"unsafe"

	"goinspect.test/fleet/internal/fleetkit"
)

const perStep = 1000

type session struct {
	id      int64
	user    int64
	payload [48]byte
}

var (
	sessions = map[int64]*session{}
	nextID   int64
	rng      = rand.New(rand.NewSource(1))
)

func step(phase int) {
	for i := 0; i < perStep; i++ {
		nextID++
		s := &session{id: nextID, user: rng.Int63n(1 << 20)} // site: leak_value_new
		sessions[s.id] = s                                   // site: map_growth
	}
}

func main() {
	fleetkit.Map("main.sessions", &sessions)
	fleetkit.Expect("main.sessions", "leak", "every step adds perStep sessions and none is ever deleted")
	fleetkit.Extra("per_step", func() any { return perStep })
	fleetkit.Extra("session_size", func() any { return unsafe.Sizeof(session{}) }) // one value object's bytes
	fleetkit.Run(step)
}
