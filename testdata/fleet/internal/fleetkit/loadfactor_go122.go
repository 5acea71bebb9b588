//go:build go1.22

package fleetkit

// From Go 1.22 runtime/map.go computes loadFactorNum = loadFactorDen*bucketCnt*13/16 = 13:
// a classic map grows past 6.5 entries per bucket.
const classicLoadFactorNum = 13
