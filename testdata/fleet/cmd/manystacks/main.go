// manystacks: hundreds of thousands of distinct, deep allocation stacks, for
// goinspect's decoder benchmark (benchmarks/bench_profile_top.py).
//
// Every allocation walks a chain of depth calls through 16 generated functions;
// the function called at each level is chosen by bits of a global counter (the
// first five levels: 16^5 distinct prefixes) and then by a hash of counter and
// level, so every allocation of a step gets its own stack. Run with
// GODEBUG=memprofilerate=1 and each allocation becomes one sample of the heap
// profile, about 100 frames deep (runtime.profstackdepth is 128 since Go 1.23).
// Half the objects are kept, so in-use and allocated totals differ.
//
// The f00..f15 functions below are generated (repetitive by design); do not
// edit them by hand.
package main

import "goinspect.test/fleet/internal/fleetkit"

const (
	perStep = 50000
	depth   = 100
)

var (
	counter uint64
	kept    [][]byte
)

// pick returns which of the 16 functions level calls for allocation c.
func pick(c uint64, level int) uint64 {
	if level < 5 {
		return (c >> (4 * uint(level))) & 15
	}
	return ((c + uint64(level)*0x51) * 0x9E3779B97F4A7C15) >> 60
}

//go:noinline
func leaf(c uint64) {
	b := make([]byte, 16+(c%8)*16)
	if c%2 == 0 {
		kept = append(kept, b)
	}
}

func step(phase int) {
	for i := 0; i < perStep; i++ {
		counter++
		f00(counter, 0)
	}
}

func main() {
	fleetkit.Slice("main.kept", &kept)
	fleetkit.Expect("main.kept", "leak", "every step appends perStep/2 new buffers and never drops one")
	fleetkit.Extra("allocations", func() any { return counter })
	fleetkit.Extra("depth", func() any { return depth })
	fleetkit.Run(step)
}


//go:noinline
func f00(c uint64, level int) {
	if level == depth {
		leaf(c)
		return
	}
	switch pick(c, level) {
	case 0:
		f00(c, level+1)
	case 1:
		f01(c, level+1)
	case 2:
		f02(c, level+1)
	case 3:
		f03(c, level+1)
	case 4:
		f04(c, level+1)
	case 5:
		f05(c, level+1)
	case 6:
		f06(c, level+1)
	case 7:
		f07(c, level+1)
	case 8:
		f08(c, level+1)
	case 9:
		f09(c, level+1)
	case 10:
		f10(c, level+1)
	case 11:
		f11(c, level+1)
	case 12:
		f12(c, level+1)
	case 13:
		f13(c, level+1)
	case 14:
		f14(c, level+1)
	case 15:
		f15(c, level+1)
	}
}

//go:noinline
func f01(c uint64, level int) {
	if level == depth {
		leaf(c)
		return
	}
	switch pick(c, level) {
	case 0:
		f00(c, level+1)
	case 1:
		f01(c, level+1)
	case 2:
		f02(c, level+1)
	case 3:
		f03(c, level+1)
	case 4:
		f04(c, level+1)
	case 5:
		f05(c, level+1)
	case 6:
		f06(c, level+1)
	case 7:
		f07(c, level+1)
	case 8:
		f08(c, level+1)
	case 9:
		f09(c, level+1)
	case 10:
		f10(c, level+1)
	case 11:
		f11(c, level+1)
	case 12:
		f12(c, level+1)
	case 13:
		f13(c, level+1)
	case 14:
		f14(c, level+1)
	case 15:
		f15(c, level+1)
	}
}

//go:noinline
func f02(c uint64, level int) {
	if level == depth {
		leaf(c)
		return
	}
	switch pick(c, level) {
	case 0:
		f00(c, level+1)
	case 1:
		f01(c, level+1)
	case 2:
		f02(c, level+1)
	case 3:
		f03(c, level+1)
	case 4:
		f04(c, level+1)
	case 5:
		f05(c, level+1)
	case 6:
		f06(c, level+1)
	case 7:
		f07(c, level+1)
	case 8:
		f08(c, level+1)
	case 9:
		f09(c, level+1)
	case 10:
		f10(c, level+1)
	case 11:
		f11(c, level+1)
	case 12:
		f12(c, level+1)
	case 13:
		f13(c, level+1)
	case 14:
		f14(c, level+1)
	case 15:
		f15(c, level+1)
	}
}

//go:noinline
func f03(c uint64, level int) {
	if level == depth {
		leaf(c)
		return
	}
	switch pick(c, level) {
	case 0:
		f00(c, level+1)
	case 1:
		f01(c, level+1)
	case 2:
		f02(c, level+1)
	case 3:
		f03(c, level+1)
	case 4:
		f04(c, level+1)
	case 5:
		f05(c, level+1)
	case 6:
		f06(c, level+1)
	case 7:
		f07(c, level+1)
	case 8:
		f08(c, level+1)
	case 9:
		f09(c, level+1)
	case 10:
		f10(c, level+1)
	case 11:
		f11(c, level+1)
	case 12:
		f12(c, level+1)
	case 13:
		f13(c, level+1)
	case 14:
		f14(c, level+1)
	case 15:
		f15(c, level+1)
	}
}

//go:noinline
func f04(c uint64, level int) {
	if level == depth {
		leaf(c)
		return
	}
	switch pick(c, level) {
	case 0:
		f00(c, level+1)
	case 1:
		f01(c, level+1)
	case 2:
		f02(c, level+1)
	case 3:
		f03(c, level+1)
	case 4:
		f04(c, level+1)
	case 5:
		f05(c, level+1)
	case 6:
		f06(c, level+1)
	case 7:
		f07(c, level+1)
	case 8:
		f08(c, level+1)
	case 9:
		f09(c, level+1)
	case 10:
		f10(c, level+1)
	case 11:
		f11(c, level+1)
	case 12:
		f12(c, level+1)
	case 13:
		f13(c, level+1)
	case 14:
		f14(c, level+1)
	case 15:
		f15(c, level+1)
	}
}

//go:noinline
func f05(c uint64, level int) {
	if level == depth {
		leaf(c)
		return
	}
	switch pick(c, level) {
	case 0:
		f00(c, level+1)
	case 1:
		f01(c, level+1)
	case 2:
		f02(c, level+1)
	case 3:
		f03(c, level+1)
	case 4:
		f04(c, level+1)
	case 5:
		f05(c, level+1)
	case 6:
		f06(c, level+1)
	case 7:
		f07(c, level+1)
	case 8:
		f08(c, level+1)
	case 9:
		f09(c, level+1)
	case 10:
		f10(c, level+1)
	case 11:
		f11(c, level+1)
	case 12:
		f12(c, level+1)
	case 13:
		f13(c, level+1)
	case 14:
		f14(c, level+1)
	case 15:
		f15(c, level+1)
	}
}

//go:noinline
func f06(c uint64, level int) {
	if level == depth {
		leaf(c)
		return
	}
	switch pick(c, level) {
	case 0:
		f00(c, level+1)
	case 1:
		f01(c, level+1)
	case 2:
		f02(c, level+1)
	case 3:
		f03(c, level+1)
	case 4:
		f04(c, level+1)
	case 5:
		f05(c, level+1)
	case 6:
		f06(c, level+1)
	case 7:
		f07(c, level+1)
	case 8:
		f08(c, level+1)
	case 9:
		f09(c, level+1)
	case 10:
		f10(c, level+1)
	case 11:
		f11(c, level+1)
	case 12:
		f12(c, level+1)
	case 13:
		f13(c, level+1)
	case 14:
		f14(c, level+1)
	case 15:
		f15(c, level+1)
	}
}

//go:noinline
func f07(c uint64, level int) {
	if level == depth {
		leaf(c)
		return
	}
	switch pick(c, level) {
	case 0:
		f00(c, level+1)
	case 1:
		f01(c, level+1)
	case 2:
		f02(c, level+1)
	case 3:
		f03(c, level+1)
	case 4:
		f04(c, level+1)
	case 5:
		f05(c, level+1)
	case 6:
		f06(c, level+1)
	case 7:
		f07(c, level+1)
	case 8:
		f08(c, level+1)
	case 9:
		f09(c, level+1)
	case 10:
		f10(c, level+1)
	case 11:
		f11(c, level+1)
	case 12:
		f12(c, level+1)
	case 13:
		f13(c, level+1)
	case 14:
		f14(c, level+1)
	case 15:
		f15(c, level+1)
	}
}

//go:noinline
func f08(c uint64, level int) {
	if level == depth {
		leaf(c)
		return
	}
	switch pick(c, level) {
	case 0:
		f00(c, level+1)
	case 1:
		f01(c, level+1)
	case 2:
		f02(c, level+1)
	case 3:
		f03(c, level+1)
	case 4:
		f04(c, level+1)
	case 5:
		f05(c, level+1)
	case 6:
		f06(c, level+1)
	case 7:
		f07(c, level+1)
	case 8:
		f08(c, level+1)
	case 9:
		f09(c, level+1)
	case 10:
		f10(c, level+1)
	case 11:
		f11(c, level+1)
	case 12:
		f12(c, level+1)
	case 13:
		f13(c, level+1)
	case 14:
		f14(c, level+1)
	case 15:
		f15(c, level+1)
	}
}

//go:noinline
func f09(c uint64, level int) {
	if level == depth {
		leaf(c)
		return
	}
	switch pick(c, level) {
	case 0:
		f00(c, level+1)
	case 1:
		f01(c, level+1)
	case 2:
		f02(c, level+1)
	case 3:
		f03(c, level+1)
	case 4:
		f04(c, level+1)
	case 5:
		f05(c, level+1)
	case 6:
		f06(c, level+1)
	case 7:
		f07(c, level+1)
	case 8:
		f08(c, level+1)
	case 9:
		f09(c, level+1)
	case 10:
		f10(c, level+1)
	case 11:
		f11(c, level+1)
	case 12:
		f12(c, level+1)
	case 13:
		f13(c, level+1)
	case 14:
		f14(c, level+1)
	case 15:
		f15(c, level+1)
	}
}

//go:noinline
func f10(c uint64, level int) {
	if level == depth {
		leaf(c)
		return
	}
	switch pick(c, level) {
	case 0:
		f00(c, level+1)
	case 1:
		f01(c, level+1)
	case 2:
		f02(c, level+1)
	case 3:
		f03(c, level+1)
	case 4:
		f04(c, level+1)
	case 5:
		f05(c, level+1)
	case 6:
		f06(c, level+1)
	case 7:
		f07(c, level+1)
	case 8:
		f08(c, level+1)
	case 9:
		f09(c, level+1)
	case 10:
		f10(c, level+1)
	case 11:
		f11(c, level+1)
	case 12:
		f12(c, level+1)
	case 13:
		f13(c, level+1)
	case 14:
		f14(c, level+1)
	case 15:
		f15(c, level+1)
	}
}

//go:noinline
func f11(c uint64, level int) {
	if level == depth {
		leaf(c)
		return
	}
	switch pick(c, level) {
	case 0:
		f00(c, level+1)
	case 1:
		f01(c, level+1)
	case 2:
		f02(c, level+1)
	case 3:
		f03(c, level+1)
	case 4:
		f04(c, level+1)
	case 5:
		f05(c, level+1)
	case 6:
		f06(c, level+1)
	case 7:
		f07(c, level+1)
	case 8:
		f08(c, level+1)
	case 9:
		f09(c, level+1)
	case 10:
		f10(c, level+1)
	case 11:
		f11(c, level+1)
	case 12:
		f12(c, level+1)
	case 13:
		f13(c, level+1)
	case 14:
		f14(c, level+1)
	case 15:
		f15(c, level+1)
	}
}

//go:noinline
func f12(c uint64, level int) {
	if level == depth {
		leaf(c)
		return
	}
	switch pick(c, level) {
	case 0:
		f00(c, level+1)
	case 1:
		f01(c, level+1)
	case 2:
		f02(c, level+1)
	case 3:
		f03(c, level+1)
	case 4:
		f04(c, level+1)
	case 5:
		f05(c, level+1)
	case 6:
		f06(c, level+1)
	case 7:
		f07(c, level+1)
	case 8:
		f08(c, level+1)
	case 9:
		f09(c, level+1)
	case 10:
		f10(c, level+1)
	case 11:
		f11(c, level+1)
	case 12:
		f12(c, level+1)
	case 13:
		f13(c, level+1)
	case 14:
		f14(c, level+1)
	case 15:
		f15(c, level+1)
	}
}

//go:noinline
func f13(c uint64, level int) {
	if level == depth {
		leaf(c)
		return
	}
	switch pick(c, level) {
	case 0:
		f00(c, level+1)
	case 1:
		f01(c, level+1)
	case 2:
		f02(c, level+1)
	case 3:
		f03(c, level+1)
	case 4:
		f04(c, level+1)
	case 5:
		f05(c, level+1)
	case 6:
		f06(c, level+1)
	case 7:
		f07(c, level+1)
	case 8:
		f08(c, level+1)
	case 9:
		f09(c, level+1)
	case 10:
		f10(c, level+1)
	case 11:
		f11(c, level+1)
	case 12:
		f12(c, level+1)
	case 13:
		f13(c, level+1)
	case 14:
		f14(c, level+1)
	case 15:
		f15(c, level+1)
	}
}

//go:noinline
func f14(c uint64, level int) {
	if level == depth {
		leaf(c)
		return
	}
	switch pick(c, level) {
	case 0:
		f00(c, level+1)
	case 1:
		f01(c, level+1)
	case 2:
		f02(c, level+1)
	case 3:
		f03(c, level+1)
	case 4:
		f04(c, level+1)
	case 5:
		f05(c, level+1)
	case 6:
		f06(c, level+1)
	case 7:
		f07(c, level+1)
	case 8:
		f08(c, level+1)
	case 9:
		f09(c, level+1)
	case 10:
		f10(c, level+1)
	case 11:
		f11(c, level+1)
	case 12:
		f12(c, level+1)
	case 13:
		f13(c, level+1)
	case 14:
		f14(c, level+1)
	case 15:
		f15(c, level+1)
	}
}

//go:noinline
func f15(c uint64, level int) {
	if level == depth {
		leaf(c)
		return
	}
	switch pick(c, level) {
	case 0:
		f00(c, level+1)
	case 1:
		f01(c, level+1)
	case 2:
		f02(c, level+1)
	case 3:
		f03(c, level+1)
	case 4:
		f04(c, level+1)
	case 5:
		f05(c, level+1)
	case 6:
		f06(c, level+1)
	case 7:
		f07(c, level+1)
	case 8:
		f08(c, level+1)
	case 9:
		f09(c, level+1)
	case 10:
		f10(c, level+1)
	case 11:
		f11(c, level+1)
	case 12:
		f12(c, level+1)
	case 13:
		f13(c, level+1)
	case 14:
		f14(c, level+1)
	case 15:
		f15(c, level+1)
	}
}
