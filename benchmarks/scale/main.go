// scale: the issue-6 scale target. One global map of N entries (default
// 1,000,000) whose values point to N small heap objects, grown by inserts as a
// real cache is (not presized). It prints "READY <len> <pid>" once filled and
// collected, then idles until killed, so a benchmark can inspect it.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"time"
	"unsafe"
)

type item struct {
	id   int64
	hits int64
}

var index map[int64]*item

func main() {
	n := 1_000_000
	if len(os.Args) > 1 {
		v, err := strconv.Atoi(os.Args[1])
		if err != nil || v < 0 {
			fmt.Fprintln(os.Stderr, "usage: scale [entries]")
			os.Exit(2)
		}
		n = v
	}
	index = map[int64]*item{}
	for i := 0; i < n; i++ {
		index[int64(i)] = &item{id: int64(i)}
	}
	runtime.GC()
	fmt.Printf("READY %d %d %d\n", len(index), os.Getpid(), unsafe.Sizeof(item{}))
	for {
		time.Sleep(time.Hour)
	}
}
