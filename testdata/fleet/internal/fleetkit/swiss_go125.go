//go:build go1.25 && (go1.26 || goexperiment.swissmap)

package fleetkit

// maps.Map gained tombstonePossible in Go 1.25.
const hasTombstonePossible = true
