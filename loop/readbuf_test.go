package loop_test

import (
	"testing"

	"github.com/asyncore-go/asyncore/loop"
	"github.com/stretchr/testify/assert"
)

// TestBorrowReadBuffer: the loop lends its one buffer again and again, a
// borrow while it is lent gets another buffer, and once the first borrow has
// allocated it, lending costs nothing.
func TestBorrowReadBuffer(t *testing.T) {
	l := loop.NewMap().Loop()
	a := l.BorrowReadBuffer()
	assert.Len(t, a, loop.ReadBufferSize)
	assert.GreaterOrEqual(t, loop.ReadBufferSize, 64<<10)

	nested := l.BorrowReadBuffer()
	assert.Len(t, nested, loop.ReadBufferSize)
	assert.NotSame(t, &a[0], &nested[0], "a nested borrow must not get the lent buffer")
	l.ReturnReadBuffer(nested)

	l.ReturnReadBuffer(a[:10]) // a prefix of the lent slice returns it too
	b := l.BorrowReadBuffer()
	assert.Same(t, &a[0], &b[0], "the loop's buffer is lent again once returned")
	l.ReturnReadBuffer(b)

	allocs := testing.AllocsPerRun(100, func() {
		l.ReturnReadBuffer(l.BorrowReadBuffer())
	})
	assert.Zero(t, allocs)
}
