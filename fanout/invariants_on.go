//go:build race || fanout_invariants

package fanout

// invariants enables internal consistency checks that cost time on the hot path; they are compiled
// into race-detector builds and builds with the fanout_invariants tag only.
const invariants = true
