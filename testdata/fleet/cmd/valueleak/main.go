// valueleak: a leak through map values. main.tenants has a fixed set of keys
// (its len never changes), but every step appends a chunk to each tenant's
// []byte, so the heap grows through append (slice growth), not through the map.
package main

import (
	"fmt"
	"math/rand"

	"goinspect.test/fleet/internal/fleetkit"
)

const (
	nTenants  = 64
	chunkSize = 512
)

var (
	tenants = map[string][]byte{}
	names   []string
	chunk   = make([]byte, chunkSize)
	rng     = rand.New(rand.NewSource(7))
)

func init() {
	for i := 0; i < nTenants; i++ {
		name := fmt.Sprintf("tenant-%02d", i)
		names = append(names, name)
		tenants[name] = nil
	}
}

func step(phase int) {
	for _, name := range names {
		rng.Read(chunk)
		tenants[name] = append(tenants[name], chunk...) // site: value_append
	}
}

func main() {
	fleetkit.Map("main.tenants", &tenants)
	fleetkit.Slice("main.names", &names)
	fleetkit.Expect("main.tenants", "leak", "len stays nTenants but every step appends a chunk to every value")
	fleetkit.Expect("main.names", "healthy", "the tenant names, filled once in init")
	fleetkit.Expect("main.chunk", "healthy", "one scratch buffer, refilled in place every step")
	fleetkit.Extra("chunk_size", func() any { return chunkSize })
	fleetkit.Extra("value_len_total", func() any {
		n := 0
		for _, v := range tenants {
			n += len(v)
		}
		return n
	})
	fleetkit.Extra("value_cap_total", func() any {
		n := 0
		for _, v := range tenants {
			n += cap(v)
		}
		return n
	})
	fleetkit.Run(step)
}
