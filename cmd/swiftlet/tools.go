package main

import (
	"io"

	"swiftlet/loadgen"
	"swiftlet/server/auth"
)

// bench is `swiftlet bench`: the load generator (package loadgen).
func bench(args []string, stdout, stderr io.Writer) int {
	return loadgen.BenchMain(args, stdout, stderr)
}

// compare is `swiftlet compare A B`.
func compare(args []string, stdout, stderr io.Writer) int {
	return loadgen.CompareMain(args, stdout, stderr)
}

// hash is `swiftlet hash PASSWORD`: a users.yml hash in deepstream's format.
func hash(args []string, stdout, stderr io.Writer) int { return auth.HashMain(args, stdout, stderr) }
