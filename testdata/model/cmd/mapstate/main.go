// Command mapstate prints, as JSON lines, map header and table fields read through
// unsafe from real maps in known states, so goinspect's map model (B for a hint,
// preallocated overflow buckets, noverflow and its sampling above B = 16, when a
// grow starts and how many writes finish it, Swiss tables, growthLeft, tombstones)
// can be checked against the runtime itself. The layout-specific half is in
// classic.go or swiss.go (chosen by build tags); every line has a "kind".
package main

import (
	"encoding/json"
	"os"
)

var out = json.NewEncoder(os.Stdout)

func emit(kind string, fields map[string]any) {
	fields["kind"] = kind
	out.Encode(fields)
}

// Hints for make(map[int64]int64, hint); 1<<50 is past maxAlloc, so make ignores it.
var hints = []int{0, 8, 9, 13, 14, 27, 100, 208, 209, 1000, 5000, 100000, 1 << 20, 1 << 50}

// Entry counts at which a map grown from empty by inserts is described.
var inserts = []int{1, 8, 9, 14, 15, 27, 28, 100, 448, 449, 896, 897, 5000, 200000}

func main() {
	emit("params", map[string]any{"hints": hints, "inserts": inserts})
	report()
}
