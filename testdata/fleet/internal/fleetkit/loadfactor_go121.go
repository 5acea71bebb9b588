//go:build !go1.22

package fleetkit

// Go 1.21's runtime/map.go computes loadFactorNum = (bucketCnt*13/16)*loadFactorDen
// in integer arithmetic: 12, i.e. a classic map grows past 6 entries per bucket, not 6.5.
const classicLoadFactorNum = 12
