package testutil

import (
	"flag"
	"math/rand/v2"
	"testing"
)

// The fault-injection property tests (fault_test.go in loop, dispatcher
// and chat) share these flags, so a failure reported with its seed can be
// replayed: go test ./chat -args -fault.seed=N.
var (
	faultSeedFlag    = flag.Uint64("fault.seed", 0, "base seed of the fault-injection property tests (0: a random one)")
	faultScriptsFlag = flag.Int("fault.scripts", 0, "scripts per fault-injection property test (0: the test's default)")
)

// FaultSeed returns the base seed of a property test, -fault.seed or a
// random one, and logs it.
func FaultSeed(t *testing.T) uint64 {
	t.Helper()
	seed := *faultSeedFlag
	if seed == 0 {
		seed = rand.Uint64()
	}
	t.Logf("fault scripts from seed %d (replay with -fault.seed=%d)", seed, seed)
	return seed
}

// FaultTotal is how many scripts a property test runs in all: short in an
// ordinary run, total in the long runs (Long), or -fault.scripts if it is
// set. looptest.FaultScripts shares them among the backends.
func FaultTotal(total, short int) int {
	switch {
	case *faultScriptsFlag > 0:
		return *faultScriptsFlag
	case !Long():
		return short
	}
	return total
}

// Chunks splits data at the lengths the bytes of cuts give (each at least
// 1), the rest in one last chunk: how the fuzz targets feed one input in
// arbitrary pieces.
func Chunks(data, cuts []byte) [][]byte {
	var out [][]byte
	for _, c := range cuts {
		if len(data) == 0 {
			break
		}
		n := min(max(int(c), 1), len(data))
		out = append(out, data[:n])
		data = data[n:]
	}
	if len(data) > 0 {
		out = append(out, data)
	}
	return out
}
