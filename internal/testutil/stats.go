package testutil

import (
	"slices"
	"time"
)

// Percentile returns the p-th percentile (0 < p ≤ 1) of ds by the
// nearest-rank method: the smallest sample that at least the fraction p of
// the samples do not exceed. Percentile(ds, 1) is the largest. ds is left
// as it was; an empty ds gives 0.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s))*p+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}
