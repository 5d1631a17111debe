package dispatcher_test

import (
	"os"
	"testing"

	"github.com/asyncore-go/asyncore/internal/testutil"
)

// TestMain lets up to four parallel tests run at once (see
// testutil.MainParallel): the tests marked parallel here mostly wait.
func TestMain(m *testing.M) { os.Exit(testutil.MainParallel(m, 4)) }
