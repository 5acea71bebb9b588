// mapcensus: the benchmark target for benchmarks/bench_map_census.py. It fills
// one global map with -n entries (-kind int: map[int64]int64; -kind str:
// map[string]*T), prints "LISTEN 127.0.0.1:PORT" (the goinspect.run.process
// contract), serves /len, and then stays idle until its stdin closes.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
)

type T struct {
	ID    int64
	Score float64
	Tag   [16]byte
}

var (
	ints map[int64]int64
	strs map[string]*T
)

func main() {
	kind := flag.String("kind", "int", "int: map[int64]int64, str: map[string]*T")
	n := flag.Int("n", 1_000_000, "entries")
	flag.Parse()
	switch *kind {
	case "int":
		ints = map[int64]int64{}
		for i := 0; i < *n; i++ {
			ints[int64(i)] = int64(i) * 7
		}
	case "str":
		strs = map[string]*T{}
		for i := 0; i < *n; i++ {
			strs["key-"+strconv.Itoa(i)] = &T{ID: int64(i), Score: float64(i) / 2}
		}
	default:
		fmt.Fprintln(os.Stderr, "unknown -kind", *kind)
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Printf("LISTEN %s\n", ln.Addr())
	go func() { io.Copy(io.Discard, os.Stdin); os.Exit(0) }()
	http.HandleFunc("/len", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%d %d\n", len(ints), len(strs))
	})
	http.Serve(ln, nil)
}
