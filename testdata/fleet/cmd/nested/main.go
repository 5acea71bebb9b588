// nested: maps and slices found only by following a global's pointers, struct
// fields and array elements -- the way a real service holds its state.
//
// main.svc is a *service. Its users field is a *userStore whose byName map is
// filled once in main (healthy); the global main.users points at the same
// store, so that map is one root, named by the path with fewer pointer loads:
// main.users.byName. service.shards is a [4]shard array inside the struct
// main.svc points to; every step adds perStep/4 entries to each shard's seen
// map and deletes none (four leaks, main.svc.shards[i].seen). service.audit is
// a *auditLog whose events slice gets perStep entries appended every step and
// never trimmed (a leak two pointer loads from the global).
package main

import (
	"fmt"

	"goinspect.test/fleet/internal/fleetkit"
)

const (
	perStep = 1000
	nShards = 4
	nUsers  = 100
)

type userStore struct {
	byName map[string]int
}

type shard struct {
	seen map[int64]int64
}

type auditLog struct {
	events []int64
}

type service struct {
	name   string
	users  *userStore
	shards [nShards]shard
	audit  *auditLog
}

var (
	svc   *service
	users *userStore
	next  int64
)

func step(phase int) {
	for i := 0; i < perStep; i++ {
		next++
		sh := &svc.shards[next%nShards]
		sh.seen[next] = next                               // site: shard_growth
		svc.audit.events = append(svc.audit.events, next) // site: audit_growth
	}
}

func main() {
	users = &userStore{byName: map[string]int{}}
	for i := 0; i < nUsers; i++ {
		users.byName[fmt.Sprintf("user-%03d", i)] = i
	}
	svc = &service{name: "nested", users: users, audit: &auditLog{}}
	for i := range svc.shards {
		svc.shards[i].seen = map[int64]int64{}
	}
	// The truth readers go through the globals each time (MapAt): a pointer kept into the service would
	// itself be a path from the harness to the maps.
	fleetkit.MapAt("main.users.byName", func() map[string]int { return users.byName })
	fleetkit.Expect("main.users.byName", "healthy", "filled once in main; main.svc.users is the same store")
	for i := range svc.shards {
		i := i // the module's go line predates per-iteration loop variables
		name := fmt.Sprintf("main.svc.shards[%d].seen", i)
		fleetkit.MapAt(name, func() map[int64]int64 { return svc.shards[i].seen })
		fleetkit.Expect(name, "leak", "every step adds perStep/4 entries to each shard and deletes none")
	}
	fleetkit.SliceAt("main.svc.audit.events", func() []int64 { return svc.audit.events })
	fleetkit.Expect("main.svc.audit.events", "leak", "every step appends perStep events, none is ever dropped")
	fleetkit.Extra("per_step", func() any { return perStep })
	fleetkit.Run(step)
}
