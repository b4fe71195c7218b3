//go:build !race

package valve

const raceEnabled = false
