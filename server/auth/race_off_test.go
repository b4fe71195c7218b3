//go:build !race

package auth

// raceEnabled: see race_on_test.go.
const raceEnabled = false
