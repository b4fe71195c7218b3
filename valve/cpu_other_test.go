//go:build !unix

package valve

func processCPU() int64 { return 0 }
