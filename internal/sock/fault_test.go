package sock

import (
	"net"
	"runtime"
	"sync"
	"testing"

	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// script installs an injector that answers the calls of op on fd with
// faults, in order, and the zero Fault once they run out. It returns a
// pointer to the number of calls seen.
func script(t *testing.T, op Op, fd int, faults ...Fault) *int {
	t.Helper()
	calls := 0
	restore := SetInjector(func(o Op, f int) Fault {
		if o != op || f != fd {
			return Fault{}
		}
		calls++
		if calls <= len(faults) {
			return faults[calls-1]
		}
		return Fault{}
	})
	t.Cleanup(restore)
	return &calls
}

func TestInjectWithoutInjector(t *testing.T) {
	assert.Equal(t, Fault{}, Inject(OpRead, 3))
	restore := SetInjector(func(Op, int) Fault { return Fault{Err: unix.EIO} })
	assert.Equal(t, Fault{Err: unix.EIO}, Inject(OpRead, 3))
	inner := SetInjector(func(Op, int) Fault { return Fault{Max: 1} })
	assert.Equal(t, Fault{Max: 1}, Inject(OpWrite, 3))
	inner()
	assert.Equal(t, Fault{Err: unix.EIO}, Inject(OpRead, 3), "restore puts back the outer injector")
	restore()
	assert.Equal(t, Fault{}, Inject(OpRead, 3))
	SetInjector(nil)()
	assert.Equal(t, Fault{}, Inject(OpRead, 3))
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = Inject(OpWrite, 3) }))
}

func TestOpString(t *testing.T) {
	for op, want := range map[Op]string{
		OpAccept: "accept", OpRead: "read", OpWrite: "write", OpConnect: "connect",
		OpSoError: "so_error", OpClose: "close", OpWait: "wait", OpShutdown: "shutdown", OpOpen: "open",
		0: "op(0)", 200: "op(200)",
	} {
		assert.Equal(t, want, op.String())
	}
}

// TestInjectorSwapIsRaceFree installs and removes injectors while another
// goroutine makes calls through the seam; run with -race.
func TestInjectorSwapIsRaceFree(t *testing.T) {
	a, _ := testutil.Socketpair(t)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		var buf [1]byte
		for {
			select {
			case <-stop:
				return
			default:
				_, _ = Read(a, buf[:])
			}
		}
	})
	for range 1000 {
		SetInjector(func(Op, int) Fault { return Fault{Err: unix.EAGAIN} })()
	}
	close(stop)
	wg.Wait()
}

func TestReadFaults(t *testing.T) {
	a, b := testutil.Socketpair(t)
	_, err := unix.Write(b, []byte("hello"))
	require.NoError(t, err)

	calls := script(t, OpRead, a, Fault{Err: unix.EINTR}, Fault{Err: unix.EINTR}, Fault{Max: 2},
		Fault{Err: unix.ECONNRESET}, Fault{Err: unix.EAGAIN})
	buf := make([]byte, 16)
	n, err := Read(a, buf)
	require.NoError(t, err)
	assert.Equal(t, "he", string(buf[:n]), "two EINTRs retried, then a read capped at 2 bytes")
	assert.Equal(t, 3, *calls)

	n, err = Read(a, buf)
	assert.Equal(t, unix.ECONNRESET, err)
	assert.Zero(t, n)
	n, err = Read(a, buf)
	assert.Equal(t, unix.EAGAIN, err)
	assert.Zero(t, n)

	n, err = Read(a, buf)
	require.NoError(t, err)
	assert.Equal(t, "llo", string(buf[:n]), "an injected error does not reach the kernel: no data was lost")
}

func TestSendAndWriteFaults(t *testing.T) {
	for _, tc := range []struct {
		name string
		send func(fd int, p []byte) (int, error)
	}{{"Send", Send}, {"Write", Write}} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := testutil.Socketpair(t)
			script(t, OpWrite, a, Fault{Err: unix.EINTR}, Fault{Max: 1}, Fault{Err: unix.EPIPE}, Fault{Max: 100})
			n, err := tc.send(a, []byte("abc"))
			require.NoError(t, err)
			assert.Equal(t, 1, n)
			n, err = tc.send(a, []byte("bc"))
			assert.Equal(t, unix.EPIPE, err)
			assert.Zero(t, n)
			n, err = tc.send(a, []byte("bc"))
			require.NoError(t, err)
			assert.Equal(t, 2, n, "a cap above the length changes nothing")
			buf := make([]byte, 8)
			n, err = unix.Read(b, buf)
			require.NoError(t, err)
			assert.Equal(t, "abc", string(buf[:n]))
		})
	}
}

func TestSendvFaults(t *testing.T) {
	for _, file := range []bool{false, true} {
		name := "socket"
		if file {
			name = "file"
		}
		t.Run(name, func(t *testing.T) {
			var w, r int
			if file {
				var p [2]int
				require.NoError(t, unix.Pipe(p[:]))
				t.Cleanup(func() { _ = unix.Close(p[0]); _ = unix.Close(p[1]) })
				r, w = p[0], p[1]
			} else {
				w, r = testutil.Socketpair(t)
			}
			bufs := [][]byte{[]byte("ab"), nil, []byte("cde"), []byte("fg")}
			var iov IovecScratch
			var got []byte
			buf := make([]byte, 64)
			drain := func() {
				n, err := unix.Read(r, buf)
				require.NoError(t, err)
				got = append(got, buf[:n]...)
			}
			for _, tc := range []struct {
				max, want int
			}{{1, 1}, {2, 2}, {3, 3}, {4, 4}, {6, 6}, {7, 7}, {8, 7}, {100, 7}} {
				script(t, OpWrite, w, Fault{Err: unix.EINTR}, Fault{Max: tc.max})
				got = got[:0]
				n, err := Sendv(w, bufs, &iov, file)
				require.NoError(t, err)
				require.Equal(t, tc.want, n, "Max %d", tc.max)
				drain()
				assert.Equal(t, "abcdefg"[:tc.want], string(got), "Max %d", tc.max)
				assert.Equal(t, [][]byte{[]byte("ab"), nil, []byte("cde"), []byte("fg")}, bufs, "the caller's buffers are left alone")
			}
			script(t, OpWrite, w, Fault{Err: unix.ECONNRESET})
			n, err := Sendv(w, bufs, &iov, file)
			assert.Equal(t, unix.ECONNRESET, err)
			assert.Zero(t, n)

			if file || runtime.GOOS != "linux" {
				return
			}
			script(t, OpWrite, w, Fault{Max: 3}, Fault{Max: 3}, Fault{Max: 3}, Fault{Max: 3})
			allocs := testing.AllocsPerRun(2, func() {
				_, _ = Sendv(w, bufs, &iov, file)
				_, _ = unix.Read(r, buf)
			})
			assert.Zero(t, allocs, "a short write is cut without allocating")
		})
	}
}

func TestAcceptFaults(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	raw, err := ln.(*net.TCPListener).SyscallConn()
	require.NoError(t, err)
	var lfd int
	require.NoError(t, raw.Control(func(fd uintptr) { lfd = int(fd) }))

	c, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })

	calls := script(t, OpAccept, lfd, Fault{Err: unix.EMFILE}, Fault{Err: unix.EINTR}, Fault{Err: unix.ECONNABORTED})
	for _, want := range []unix.Errno{unix.EMFILE, unix.ECONNABORTED} {
		nfd, sa, err := Accept(lfd)
		assert.Equal(t, want, err)
		assert.Equal(t, -1, nfd)
		assert.Nil(t, sa)
	}
	assert.Equal(t, 3, *calls, "the EINTR was retried")
	var nfd int
	for {
		// The listener is the runtime's, and non-blocking: the connection
		// may not be in the queue yet.
		nfd, _, err = Accept(lfd)
		if err != unix.EAGAIN {
			break
		}
	}
	require.NoError(t, err, "the pending connection was not consumed by the injected errors")
	require.NoError(t, unix.Close(nfd))
}

func TestConnectAndSoErrorFaults(t *testing.T) {
	a, _ := testutil.Socketpair(t)
	script(t, OpConnect, a, Fault{Err: unix.ETIMEDOUT})
	assert.Equal(t, unix.ETIMEDOUT, Connect(a, &unix.SockaddrUnix{Name: "/nonexistent"}))

	script(t, OpSoError, a, Fault{Err: unix.ECONNREFUSED})
	errno, err := SoError(a)
	require.NoError(t, err)
	assert.Equal(t, unix.ECONNREFUSED, errno)
	errno, err = SoError(a)
	require.NoError(t, err)
	assert.Zero(t, errno)
}

func TestCloseFaultClosesFirst(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	require.NoError(t, err)
	t.Cleanup(func() { _ = unix.Close(fds[1]) })
	script(t, OpClose, fds[0], Fault{Err: unix.EIO})
	assert.Equal(t, unix.EIO, Close(fds[0]))
	_, err = unix.FcntlInt(uintptr(fds[0]), unix.F_GETFD, 0)
	assert.Equal(t, unix.EBADF, err, "the descriptor was really closed")
}

// BenchmarkInjectUnset is the cost the seam adds to every system call when
// no injector is installed: one atomic load.
func BenchmarkInjectUnset(b *testing.B) {
	b.ReportAllocs()
	var n int
	for b.Loop() {
		n += Inject(OpRead, 3).Max
	}
	if n != 0 {
		b.Fatal("an injector is installed")
	}
}
