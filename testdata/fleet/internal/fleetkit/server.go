// Package fleetkit is the shared harness of the goinspect test fleet.
//
// Every fleet program is a tiny loopback service whose state changes only when
// told to (/advance), so a test can take heap profiles, cores or live reads at
// known phases and compare them with the program's own ground truth (/truth):
// the len of each named map and slice and the runtime header fields read
// through unsafe. The process exits when its stdin pipe closes, on SIGTERM or
// on /quit, so a crashed test run never leaves a service behind.
package fleetkit

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	_ "net/http/pprof" // the endpoints under test: /debug/pprof/*
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"sync"
	"syscall"
)

var (
	mu    sync.Mutex // serialises steps and truth reads: the maps are never read mid-write
	phase int
)

// Run serves the program until it is told to stop. step(k) runs phase k
// (1-based) synchronously inside /advance; it must be deterministic.
// It listens on a free loopback port, or on $FLEET_ADDR (host:port) when set,
// for tools that must know the URL before the program starts.
func Run(step func(phase int)) {
	addr := os.Getenv("FLEET_ADDR")
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fleetkit: listen:", err)
		os.Exit(2)
	}
	// The first stdout line is the contract with goinspect.run.process.GoService.
	fmt.Fprintf(os.Stdout, "LISTEN %s\n", ln.Addr())
	os.Stdout.Sync()

	exitOnStdinClose()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() { <-sig; os.Exit(0) }()

	http.HandleFunc("/advance", func(w http.ResponseWriter, r *http.Request) {
		n := 1
		if s := r.URL.Query().Get("steps"); s != "" {
			v, err := strconv.Atoi(s)
			if err != nil || v < 0 || v > 1_000_000 {
				http.Error(w, "steps must be an integer in [0, 1000000]", http.StatusBadRequest)
				return
			}
			n = v
		}
		mu.Lock()
		defer mu.Unlock()
		for i := 0; i < n; i++ {
			phase++
			step(phase)
		}
		writeJSON(w, collect())
	})
	http.HandleFunc("/truth", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		writeJSON(w, collect())
	})
	http.HandleFunc("/gc", func(w http.ResponseWriter, r *http.Request) {
		runtime.GC()
		io.WriteString(w, "ok\n")
	})
	http.HandleFunc("/quit", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "bye\n")
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		go os.Exit(0)
	})
	if err := http.Serve(ln, nil); err != nil {
		fmt.Fprintln(os.Stderr, "fleetkit: serve:", err)
		os.Exit(2)
	}
}

// exitOnStdinClose ends the process when a parent's stdin pipe closes. Only a
// pipe is watched: a terminal or /dev/null must not stop a program run by hand.
func exitOnStdinClose() {
	fi, err := os.Stdin.Stat()
	if err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		return
	}
	go func() {
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintln(os.Stderr, "fleetkit: encode truth:", err)
	}
}
