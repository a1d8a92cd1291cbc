package main

import (
	"os"
	"regexp"
)

func readAll(paths []string) {
	// ruleid: go.performance.defer-in-loop
	for _, p := range paths {
		f, _ := os.Open(p)
		defer f.Close()
	}
}

func match(lines []string) int {
	n := 0
	// ruleid: go.performance.regexp-compile-in-loop
	for _, line := range lines {
		re := regexp.MustCompile("a+b")
		if re.MatchString(line) {
			n++
		}
	}
	return n
}
