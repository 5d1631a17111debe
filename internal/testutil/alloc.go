package testutil

import "runtime"

// Allocated returns the bytes the whole process has allocated so far
// (runtime.MemStats.TotalAlloc), for tests that bound what a request may
// make a server allocate.
func Allocated() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc
}
