// slicepin: a small slice pinning a large array. Each step makes a 64 MiB
// []int64, keeps only its last 16 elements as main.tail and drops the rest:
// the 128-byte tail keeps the whole array alive. main.copied takes the same
// 16 elements of a second 64 MiB array by copying them (the fix), which frees
// that array. After a GC, about one 64 MiB array per program is in use.
package main

import "goinspect.test/fleet/internal/fleetkit"

const (
	bigLen  = 8 << 20 // elements: 64 MiB of int64
	tailLen = 16
)

var (
	tail   []int64
	copied []int64
)

func fill(s []int64, phase int) {
	for i := range s {
		s[i] = int64(i + phase)
	}
}

func step(phase int) {
	big := make([]int64, bigLen) // site: big_make
	fill(big, phase)
	tail = big[bigLen-tailLen:] // pins all of big

	other := make([]int64, bigLen) // site: other_make
	fill(other, phase)
	copied = append([]int64(nil), other[bigLen-tailLen:]...) // site: tail_copy
}

func main() {
	fleetkit.Slice("main.tail", &tail)
	fleetkit.Slice("main.copied", &copied)
	fleetkit.Expect("main.tail", "slice-pinning", "a 16-element tail of a 64 MiB array keeps the whole array alive")
	fleetkit.Expect("main.copied", "healthy", "the same 16 elements copied out: its own 128-byte array, same len every step")
	fleetkit.ExpectFrom(1)
	fleetkit.Extra("big_bytes", func() any { return bigLen * 8 })
	fleetkit.Run(step)
}
