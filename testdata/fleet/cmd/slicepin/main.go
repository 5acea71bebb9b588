// slicepin: a small slice pinning a large array. Each step makes a 64 MiB
// []int64, keeps only its last 16 elements as main.tail and drops the rest:
// the 128-byte tail keeps the whole array alive. main.copied takes the same
// 16 elements of a second 64 MiB array by copying them (the fix), which frees
// that array. main.head is the other common shape: the first 64 bytes of an
// 8 MiB buffer read once at start (head = buf[:64]), whose cap still reaches
// the whole buffer though nothing ever uses it. After a GC, about one 64 MiB
// array (and the 8 MiB buffer) per program is in use.
package main

import "goinspect.test/fleet/internal/fleetkit"

const (
	bigLen  = 8 << 20 // elements: 64 MiB of int64
	tailLen = 16
	bufLen  = 8 << 20 // bytes of the buffer main.head keeps the start of
	headLen = 64
)

var (
	tail   []int64
	copied []int64
	head   []byte
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
	buf := make([]byte, bufLen)
	for i := range buf {
		buf[i] = byte(i)
	}
	head = buf[:headLen] // cap(head) == bufLen: the whole buffer stays
	fleetkit.Slice("main.head", &head)
	fleetkit.Expect("main.head", "slice-pinning", "the first 64 bytes of an 8 MiB buffer; its len never grows into the rest")
	fleetkit.Extra("buf_bytes", func() any { return bufLen })
	fleetkit.Slice("main.tail", &tail)
	fleetkit.Slice("main.copied", &copied)
	fleetkit.Expect("main.tail", "slice-pinning", "a 16-element tail of a 64 MiB array keeps the whole array alive")
	fleetkit.Expect("main.copied", "healthy", "the same 16 elements copied out: its own 128-byte array, same len every step")
	fleetkit.ExpectFrom(1)
	fleetkit.Extra("big_bytes", func() any { return bigLen * 8 })
	fleetkit.Run(step)
}
