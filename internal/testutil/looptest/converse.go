package looptest

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/loop"
)

// Converse is the core of the example servers' fuzz harnesses: it plays a
// client against a server driven by hand. It makes a socket pair, gives one
// end to accept (the server's HandleAccepted), and runs l once (so a
// greeting is sent). Then it writes data in the chunks that cuts makes of
// it (see testutil.Chunks), running l once after every write and reading
// what the server sent; once the server has closed, the rest of data is not sent.
// Finally it half-closes its end and runs l until l's map is empty,
// failing t if the server still holds a channel after 1000 iterations —
// every server must close once its client's input has ended. It returns
// everything the server wrote.
func Converse(t testing.TB, l *loop.Loop, accept func(fd int), data, cuts []byte) []byte {
	t.Helper()
	fds, err := testutil.NewSocketpair()
	if err != nil {
		t.Fatal(err)
	}
	peer := fds[1]
	defer unix.Close(peer)
	accept(fds[0])

	var out []byte
	buf := make([]byte, 64<<10)
	pump := func() {
		if err := l.RunOnce(0); err != nil {
			t.Fatal(err)
		}
		for {
			n, err := unix.Read(peer, buf)
			if n <= 0 || err != nil {
				return
			}
			out = append(out, buf[:n]...)
		}
	}
	pump()
	open := true
	for _, chunk := range testutil.Chunks(data, cuts) {
		for open && len(chunk) > 0 {
			n, err := unix.Write(peer, chunk)
			if n > 0 {
				chunk = chunk[n:]
			}
			if err != nil && !errors.Is(err, unix.EAGAIN) {
				open = false // the server closed: the rest is not sent
			}
			pump()
		}
	}
	_ = unix.Shutdown(peer, unix.SHUT_WR)
	for i := 0; l.Map().Len() > 0; i++ {
		if i == 1000 {
			t.Fatalf("the server still holds a channel after EOF; replies so far %q", out)
		}
		pump()
	}
	pump()
	return out
}
