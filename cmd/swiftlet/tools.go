package main

import (
	"fmt"
	"io"
)

func bench(args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "swiftlet bench: the load generator is not part of this build yet")
	return 2
}

func compare(args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "swiftlet compare: the load generator is not part of this build yet")
	return 2
}

func hash(args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "swiftlet hash: file authentication is not part of this build yet")
	return 2
}
