//go:build go1.24 && !go1.25 && goexperiment.swissmap

package fleetkit

// Go 1.24's maps.Map has no tombstonePossible field.
const hasTombstonePossible = false
