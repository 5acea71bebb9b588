// stackmap: maps and a slice that live only in goroutines' local variables.
//
// main.owner runs in its own goroutine and keeps pending (a map that leaks:
// every step adds perStep records, none is ever deleted) and history (a slice
// appended to every step) in locals. Between steps it is parked on a channel
// receive, so both are found only by unwinding its stack: goinspect names them
// main.owner.pending and main.owner.history, root "stack". No global, heap
// object or closure refers to either; their truth is computed by the owner
// itself (fleetkit.StackMap / StackSlice) without taking the locals' addresses.
//
// STACKMAP_WORKERS (default 3) goroutines run main.worker, each holding a
// small map of its own size in the same local: one name in several
// goroutines, which goinspect tells apart as main.worker.m#GOID. Each also
// passes its map down to the frame it parks in (main.waitWith.m): one map in
// two locals is one root, named after the outer one.
//
// main.tally holds a map in a variable the compiler moved to the heap (a
// closure may replace it): its frame holds a pointer to the variable.
// main.(*registry).serve holds a struct's map and slice fields through its
// receiver and in a struct-valued local (r.byName, spare.order, ...).
//
// main.counter keeps a map whose make() does not escape (nothing but len(m)
// leaves its frame): the compiler puts the map header in counter's frame as a
// stack object and gives the variable m no DWARF location at all, so goinspect
// finds it among the frame's stack objects (FUNCDATA_StackObjects). It leaks
// like pending; its truth is len(m), published by counter itself.
//
// main.holder keeps only a pointer to a service whose store field points to the
// struct holding the map: main.holder.s.store.byID, two pointer loads from
// the frame.
//
// STACKMAP_SPIN=1 adds main.spinner, a goroutine that never parks (it spins
// in a call, its map m spilled in its frame): it is found only from its
// thread's registers, the one case where a goroutine has no saved PC/SP.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"goinspect.test/fleet/internal/fleetkit"
)

const (
	perStep    = 500
	spinnerLen = 100
)

type record struct {
	id      int64
	payload [40]byte
}

// owner is the goroutine holding the locals. publish is called with the map and
// slice after each step (and once at the start); being a parameter, it is opaque
// to escape analysis, so pending's header is a heap object (as in most real
// programs: a map that is passed anywhere escapes) that only this frame points to.
func owner(work <-chan int, done chan<- struct{}, publishMap func(map[int64]*record), publishSlice func([]int64)) {
	pending := make(map[int64]*record) // site: stack_map
	var history []int64
	var next int64
	publishMap(pending)
	publishSlice(history)
	for n := range work {
		for i := 0; i < n; i++ {
			next++
			pending[next] = &record{id: next} // site: stack_map_growth
			history = append(history, next)   // site: stack_slice_growth
		}
		publishMap(pending)
		publishSlice(history)
		done <- struct{}{}
	}
}

// counter's map header lives in its frame: m is never passed anywhere, only its length is published.
func counter(work <-chan int, done chan<- struct{}, length *atomic.Int64) {
	m := map[int64]int64{} // site: stack_header_map
	var next int64
	for n := range work {
		for i := 0; i < n; i++ {
			next++
			m[next] = -next // site: stack_header_map_growth
		}
		length.Store(int64(len(m)))
		done <- struct{}{}
	}
}

type store struct {
	byID map[int64]string
}

type service struct {
	name  string
	store *store
}

// newService is not inlined: the service is a heap object, and s a pointer the frame keeps.
//
//go:noinline
func newService(name string) *service {
	return &service{name: name, store: &store{byID: map[int64]string{}}}
}

// holder's only local is s; the map is two pointers away from the frame.
func holder(park <-chan struct{}, publish func(map[int64]string)) {
	s := newService("holder")
	for i := int64(0); i < 7; i++ {
		s.store.byID[i] = strconv.FormatInt(i, 10)
	}
	publish(s.store.byID)
	for range park {
		publish(s.store.byID)
	}
}

// worker fills a map of size entries once, reports its goroutine id, publishes
// the map's truth and parks for good in waitWith, which holds the same map in
// its parameter: two locals, one map, reported once under the outer one
// (m stays live in worker too: it is published again if waitWith ever returns).
func worker(size int, ready chan<- int64, publishers <-chan func(map[int]int), park <-chan struct{}) {
	m := make(map[int]int)
	for i := 0; i < size; i++ {
		m[i] = i * i
	}
	ready <- goid()
	publish := <-publishers
	publish(m)
	ready <- 0
	waitWith(m, park, publish)
	publish(m)
}

//go:noinline
func waitWith(m map[int]int, park <-chan struct{}, publish func(map[int]int)) {
	for range park {
		publish(m)
	}
}

// tally's map is captured by reference by closures handed to run (one of them
// replaces it), so the compiler moves the variable itself to the heap ("moved
// to heap: seen"): the frame holds only a pointer to it, which goinspect follows.
func tally(park <-chan struct{}, publish func(map[string]int), run func(func())) {
	seen := map[string]int{}
	for _, w := range strings.Fields("the map the frame points to is the map") {
		run(func() { seen[w]++ })
	}
	publish(seen)
	for range park {
		run(func() { seen = map[string]int{} })
		publish(seen)
	}
}

// registry is a struct with map and slice fields, held two ways by serve's
// frame: through its receiver (a pointer to a heap object nothing else points
// to) and by value in the local spare (a 4-word struct the compiler keeps as
// separate stack slots, one per word).
type registry struct {
	byName map[string]int
	order  []string
}

// registryTruth publishes the four containers serve holds.
type registryTruth struct {
	byName, spareByName func(map[string]int)
	order, spareOrder   func([]string)
}

func (r *registry) serve(park <-chan struct{}, t registryTruth) {
	spare := registry{byName: map[string]int{}, order: make([]string, 0, 4)}
	for i, name := range []string{"alpha", "beta", "gamma"} {
		r.byName[name] = i
		r.order = append(r.order, name)
		spare.byName[name+"'"] = -i
		spare.order = append(spare.order, name+"'")
	}
	t.byName(r.byName)
	t.order(r.order)
	t.spareByName(spare.byName)
	t.spareOrder(spare.order)
	for range park {
		t.byName(r.byName)
		t.order(r.order)
		t.spareByName(spare.byName)
		t.spareOrder(spare.order)
	}
}

// spinner never parks: m is live across the call to spin, so it sits in
// spinner's frame while the thread runs spin.
func spinner(publish func(map[int64]int64)) {
	m := make(map[int64]int64)
	for i := int64(0); i < spinnerLen; i++ {
		m[i] = -i
	}
	publish(m)
	for {
		if spin(1<<30) == 42 {
			publish(m)
		}
	}
}

//go:noinline
func spin(n int64) int64 {
	x := int64(1)
	for i := int64(0); i < n; i++ {
		x = x*6364136223846793005 + 1442695040888963407
	}
	return x
}

// goid is this goroutine's id, from the first line of its own traceback ("goroutine 18 [running]:").
func goid() int64 {
	buf := make([]byte, 64)
	fields := strings.Fields(string(buf[:runtime.Stack(buf, false)]))
	id, err := strconv.ParseInt(fields[1], 10, 64)
	if err != nil {
		panic("stackmap: cannot read the goroutine id: " + err.Error())
	}
	return id
}

var (
	work        = make(chan int)
	done        = make(chan struct{})
	counterWork = make(chan int)
	counterDone = make(chan struct{})
	counterLen  atomic.Int64
	park        = make(chan struct{})
)

func step(phase int) {
	work <- perStep
	<-done
	counterWork <- perStep
	<-counterDone
}

func main() {
	publishMap := fleetkit.StackMap[int64, *record]("main.owner.pending")
	publishSlice := fleetkit.StackSlice[int64]("main.owner.history")
	go owner(work, done, publishMap, publishSlice)
	fleetkit.Expect("main.owner.pending", "leak", "a goroutine's local map: every step adds perStep records, none is ever deleted")
	fleetkit.Expect("main.owner.history", "leak", "a goroutine's local slice: every step appends perStep ids, none is ever dropped")
	go counter(counterWork, counterDone, &counterLen)
	fleetkit.Expect("main.counter.m", "leak", "a map whose header is in its goroutine's frame: every step adds perStep entries")
	fleetkit.Extra("counter_len", func() any { return counterLen.Load() })

	workers, err := strconv.Atoi(envOr("STACKMAP_WORKERS", "3"))
	if err != nil || workers < 0 {
		panic("stackmap: STACKMAP_WORKERS must be a count")
	}
	for i := 1; i <= workers; i++ {
		ready, publishers := make(chan int64), make(chan func(map[int]int), 1)
		go worker(i, ready, publishers, park)
		name := fmt.Sprintf("main.worker.m#%d", <-ready)
		publishers <- fleetkit.StackMap[int, int](name)
		<-ready
		fleetkit.Expect(name, "healthy", "filled once when its worker starts, never written again")
	}
	// tally and serve publish their first truth on their own schedule: main waits for both (and the
	// spinner) before serving, so no /truth ever shows them unpublished.
	var started sync.WaitGroup
	go tally(park, firstPublish(fleetkit.StackMap[string, int]("main.tally.seen"), &started), func(f func()) { f() })
	const serve = "main.(*registry).serve."
	go (&registry{byName: map[string]int{}}).serve(park, registryTruth{
		byName:      fleetkit.StackMap[string, int](serve + "r.byName"),
		order:       fleetkit.StackSlice[string](serve + "r.order"),
		spareByName: fleetkit.StackMap[string, int](serve + "spare.byName"),
		spareOrder:  firstPublish(fleetkit.StackSlice[string](serve+"spare.order"), &started), // published last
	})
	for _, field := range []string{"r.byName", "r.order", "spare.byName", "spare.order"} {
		fleetkit.Expect(serve+field, "healthy", "three names registered when the goroutine starts, never changed")
	}
	go holder(park, firstPublish(fleetkit.StackMap[int64, string]("main.holder.s.store.byID"), &started))
	fleetkit.Expect("main.holder.s.store.byID", "healthy", "seven names stored when the goroutine starts, two pointers from its frame")
	fleetkit.Expect("main.tally.seen", "healthy", "six words counted once; the variable lives on the heap, its pointer in the frame")
	if os.Getenv("STACKMAP_SPIN") == "1" {
		go spinner(firstPublish(fleetkit.StackMap[int64, int64]("main.spinner.m"), &started))
		fleetkit.Expect("main.spinner.m", "healthy", "filled once, then only read by a goroutine that never parks")
	}
	fleetkit.Extra("per_step", func() any { return perStep })
	fleetkit.Extra("workers", func() any { return workers })
	started.Wait()
	fleetkit.Run(step)
}

// firstPublish wraps a publisher so that started is done once the goroutine has published the first time.
func firstPublish[T any](publish func(T), started *sync.WaitGroup) func(T) {
	var once sync.Once
	started.Add(1)
	return func(v T) {
		publish(v)
		once.Do(started.Done)
	}
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}
