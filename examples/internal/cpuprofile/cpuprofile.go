// Package cpuprofile is the examples' -cpuprofile flag: a CPU profile of the
// whole run, from start-up to shutdown, for go tool pprof under a load such
// as wrk's or redis-benchmark's. It is shared by the examples that have the
// flag, so they profile the same way; it is not part of the library.
package cpuprofile

import (
	"log/slog"
	"os"
	"runtime/pprof"
)

// Start starts writing a CPU profile to path, if path is not empty, and
// returns the function that ends it (call it once the server has stopped,
// on SIGINT or SIGTERM). With an empty path it does nothing.
func Start(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			slog.Error("cannot write the CPU profile", "err", err)
		}
	}, nil
}
