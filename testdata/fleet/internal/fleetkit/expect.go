package fleetkit

import (
	"fmt"
	"sort"
)

// verdicts is goinspect's verdict vocabulary (goinspect/analysis/verdicts.py).
var verdicts = []string{"leak", "retained-capacity", "growing", "slice-pinning", "churn", "healthy", "undetermined"}

// expectation is the verdict a map or slice must get, and why, in one line.
type expectation struct {
	verdict string
	reason  string
}

var (
	expectations = map[string]expectation{}
	harness      = map[string]expectation{} // the harness's own registries; a program's Expect overrides them
	expectFrom   int
)

// Expect declares the verdict goinspect must give the map or slice called
// name (its qualified Go name, as goinspect reports it: "main.sessions"),
// with a one-line reason. The ground truth lives in the program, next to the
// code that makes it true; /truth serves it as "expect" and "expect_reasons".
// Call it from main before Run. An unknown verdict panics: a typo must not
// turn into an expectation nothing can meet.
func Expect(name, verdict, reason string) {
	for _, v := range verdicts {
		if v == verdict {
			if _, dup := expectations[name]; dup {
				panic(fmt.Sprintf("fleetkit: %s expected twice", name))
			}
			expectations[name] = expectation{verdict, reason}
			return
		}
	}
	panic(fmt.Sprintf("fleetkit: %q is not a verdict (one of %v)", verdict, verdicts))
}

// ExpectFrom says from which phase on the expectations hold: a test takes its
// first sample at this phase (an LRU must fill up before it is bounded, a map
// must be emptied before its capacity is retained) and runs one step between
// samples (tests/test_analyze_fleet.py). Growth that comes in steps -- append
// doubling a value's capacity, a Swiss map splitting a table -- is seen rising
// in every interval under that protocol, not necessarily under any other.
func ExpectFrom(phase int) { expectFrom = phase }

// expected is the /truth view of the expectations: verdicts and reasons by
// name, and the first phase at which they hold.
func expected() (map[string]string, map[string]string, int) {
	all := map[string]expectation{}
	for n, e := range harness {
		all[n] = e
	}
	for n, e := range expectations {
		all[n] = e
	}
	names := make([]string, 0, len(all))
	for n := range all {
		names = append(names, n)
	}
	sort.Strings(names)
	byName, reasons := map[string]string{}, map[string]string{}
	for _, n := range names {
		byName[n], reasons[n] = all[n].verdict, all[n].reason
	}
	return byName, reasons, expectFrom
}

// Harness is the qualified name prefix of the harness's own globals ("<Harness>mapReaders").
const Harness = "goinspect.test/fleet/internal/fleetkit."

// The harness's own maps and slices are registries filled before Run and only
// read afterwards: they hold still -- unless a program registers something
// whose truth grows with it (StackMap keeps the latest truth of a map, and a
// Swiss map's table list grows with the map): such a program overrides the
// default with its own Expect.
func init() {
	for _, n := range []string{"mapReaders", "sliceReaders", "extras", "expectations", "harness", "verdicts"} {
		harness[Harness+n] = expectation{"healthy", "harness registry: filled before Run, only read after"}
	}
}
