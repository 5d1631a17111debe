//go:build !linux

package sock

// eventfdForTest is never called here: eventfd is Linux's.
func eventfdForTest() ([]int, error) { panic("sock: no eventfd on this system") }
