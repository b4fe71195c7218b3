//go:build unix

package valve

import "syscall"

// processCPU returns the CPU time used by the process so far. On a shared,
// loaded machine it is a steadier cost measure than wall-clock ns/op.
func processCPU() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
