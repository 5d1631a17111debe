package testutil

import (
	"flag"
	"strconv"
	"testing"
)

// MainParallel runs the tests of m, allowing up to n parallel tests at once
// unless -test.parallel was given on the command line. A package's
// TestMain calls it as os.Exit(testutil.MainParallel(m, 4)).
//
// The default, GOMAXPROCS, suits tests that keep a CPU busy; the tests
// marked parallel in this module are rather the ones that spend their time
// waiting (on a slow reader, a linger or stall timeout, a child process),
// and on a two-core machine two at a time would leave the CPUs idle.
func MainParallel(m *testing.M, n int) int {
	if !flag.Parsed() {
		flag.Parse()
	}
	set := false
	flag.Visit(func(f *flag.Flag) {
		if f.Name == "test.parallel" {
			set = true
		}
	})
	if !set {
		_ = flag.Set("test.parallel", strconv.Itoa(n))
	}
	return m.Run()
}
