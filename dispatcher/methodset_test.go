package dispatcher_test

import (
	"reflect"
	"testing"

	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/stretchr/testify/assert"
)

// maxDispatcherMethods bounds *Dispatcher's exported method set: asyncore's
// dispatcher (about thirty names), the loop's interfaces and a few Go
// conveniences. Helpers that only protocol layers need live behind Hooks and
// Socket, not in the method set every embedding type shows.
const maxDispatcherMethods = 40

// TestDispatcherMethodSet keeps the method set asyncore-sized and the
// embedder hooks out of it: a type that embeds Dispatcher must not present
// timer and counter plumbing as its own API.
func TestDispatcherMethodSet(t *testing.T) {
	typ := reflect.TypeOf(&dispatcher.Dispatcher{})
	var names []string
	for i := range typ.NumMethod() {
		names = append(names, typ.Method(i).Name)
	}
	assert.LessOrEqual(t, len(names), maxDispatcherMethods, "exported methods of *Dispatcher: %v", names)
	for _, hook := range []string{"ArmTimeout", "CountTimeout", "CountLimitClose", "UseServerTimeouts", "ResetTimeouts", "Unread", "EOF"} {
		assert.NotContains(t, names, hook, "an embedder hook is in Dispatcher's method set")
	}
}
