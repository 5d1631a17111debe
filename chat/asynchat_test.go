package chat_test

// A port of CPython 3.11's Lib/test/test_asynchat.py
// (docs/asyncore-compat.md#ported-test-suites), all 25 tests. TestAsynchat and
// TestAsynchat_WithPoll, which run the same eleven tests over select and poll,
// become subtests per backend (forEachBackend); the test names follow the
// Python ones.

import (
	"bytes"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/asyncore-go/asyncore/chat"
	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/loop"
	"github.com/asyncore-go/asyncore/producer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// serverQuit is SERVER_QUIT: the echo server echoes once it has seen it.
const serverQuit = "QUIT\n"

// echoServer is test_asynchat's echo_server: a goroutine that accepts one
// TCP connection, reads it one byte at a time until "QUIT\n" is in its
// buffer (or EOF), removes every "QUIT\n", waits for startResend if one is
// given, and sends the buffer back in chunkSize pieces before closing.
// Python sleeps 1 ms after each piece so that the client's reads see the
// pieces one by one; here the client caps its reads at chunkSize instead
// (see lineTerminatorCheck), which gives the same splits without a sleep.
type echoServer struct {
	addr        string
	chunkSize   int
	startResend chan struct{}
	done        chan struct{}
	buffer      []byte // what arrived, minus "QUIT\n"; read it after join
}

// startEchoServer is start_echo_server. The server is stopped and waited
// for when the test ends, if join has not done so.
func startEchoServer(t *testing.T, chunkSize int, startResend chan struct{}) *echoServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &echoServer{addr: ln.Addr().String(), chunkSize: chunkSize, startResend: startResend, done: make(chan struct{})}
	go s.run(ln)
	t.Cleanup(func() {
		_ = ln.Close()
		<-s.done
	})
	return s
}

func (s *echoServer) run(ln net.Listener) {
	defer close(s.done)
	conn, err := ln.Accept()
	_ = ln.Close()
	if err != nil {
		return
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(waitFor))
	var buf []byte
	one := make([]byte, 1)
	for !bytes.Contains(buf, []byte(serverQuit)) {
		n, err := conn.Read(one)
		buf = append(buf, one[:n]...)
		if err != nil {
			break
		}
	}
	buf = bytes.ReplaceAll(buf, []byte(serverQuit), nil)
	s.buffer = buf
	if s.startResend != nil {
		select {
		case <-s.startResend:
		case <-time.After(waitFor):
			return
		}
	}
	for len(buf) > 0 { // errors are ignored, as in Python
		n := min(s.chunkSize, len(buf))
		if _, err := conn.Write(buf[:n]); err != nil {
			return
		}
		buf = buf[n:]
	}
}

// join waits for the server to finish (Python's s.join(timeout)).
func (s *echoServer) join(t *testing.T) {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(waitFor):
		t.Fatal("the echo server did not finish")
	}
}

// echoClient is test_asynchat's echo_client: it collects into buffer and
// appends buffer to contents at each terminator. Python's darwin-only
// handle_expt override is not needed: the dispatcher routes a final
// POLLHUP to HandleClose, not HandleExpt.
type echoClient struct {
	chat.AsyncChat
	t        *testing.T
	contents []string
	buffer   []byte
}

// newEchoClient is echo_client(terminator, port): create the socket,
// connect, and only then set the terminator.
func newEchoClient(t *testing.T, m *loop.Map, term chat.Terminator, addr string) *echoClient {
	c := &echoClient{t: t}
	c.Init(c, m)
	require.NoError(t, c.CreateSocket(dispatcher.AFInet, dispatcher.SockStream))
	require.NoError(t, c.Connect(addr))
	c.SetTerminator(term)
	return c
}

func (c *echoClient) HandleConnect() {}

func (c *echoClient) CollectIncomingData(data []byte) { c.buffer = append(c.buffer, data...) }

func (c *echoClient) FoundTerminator() {
	c.contents = append(c.contents, string(c.buffer))
	c.buffer = nil
}

// HandleError fails the test: the Python tests would see the traceback.
func (c *echoClient) HandleError(err error) {
	c.t.Errorf("echo client: %v", err)
	_ = c.Close()
}

// finish is Python's asyncore.loop(count=300, timeout=.01) followed by
// s.join(): run until the client has closed (the server closes after its
// echo, and EOF closes the client), then wait for the server.
func finish(e *env, c *echoClient, s *echoServer) {
	e.t.Helper()
	e.runUntil(func() bool { return c.Fd() < 0 })
	s.join(e.t)
}

// lineTerminatorCheck is line_terminator_check(term, server_chunk).
func lineTerminatorCheck(t *testing.T, term string) {
	forEachBackend(t, func(t *testing.T, e *env) {
		for _, serverChunk := range []int{1, 2, 3} {
			e.run("chunk="+strconv.Itoa(serverChunk), func(t *testing.T, e *env) {
				s := startEchoServer(t, serverChunk, nil)
				c := newEchoClient(t, e.m, chat.DelimiterString(term), s.addr)
				// Read the echo exactly as the server chunked it, so the
				// partial-terminator branches run (see echoServer).
				c.InBufferSize = serverChunk
				c.Push([]byte("hello "))
				c.Push([]byte("world" + term))
				c.Push([]byte("I'm not dead yet!" + term))
				c.Push([]byte(serverQuit))
				finish(e, c, s)
				assert.Equal(t, []string{"hello world", "I'm not dead yet!"}, c.contents)
			})
		}
	})
}

// TestLineTerminator1 is test_line_terminator1: "\n".
func TestLineTerminator1(t *testing.T) { lineTerminatorCheck(t, "\n") }

// TestLineTerminator2 is test_line_terminator2: "\r\n".
func TestLineTerminator2(t *testing.T) { lineTerminatorCheck(t, "\r\n") }

// TestLineTerminator3 is test_line_terminator3: "qqq".
func TestLineTerminator3(t *testing.T) { lineTerminatorCheck(t, "qqq") }

// numericTerminatorCheck is numeric_terminator_check(termlen): one frame
// only, because the terminator is Length(0) once it has fired.
func numericTerminatorCheck(t *testing.T, termlen int) {
	data := "hello world, I'm not dead yet!\n"
	forEachBackend(t, func(t *testing.T, e *env) {
		s := startEchoServer(t, 1, nil)
		c := newEchoClient(t, e.m, chat.Length(termlen), s.addr)
		c.Push([]byte(data))
		c.Push([]byte(serverQuit))
		finish(e, c, s)
		assert.Equal(t, []string{data[:termlen]}, c.contents)
		assert.Equal(t, data[termlen:], string(c.buffer), "the rest is collected, never framed")
	})
}

// TestNumericTerminator1 is test_numeric_terminator1: Length(1).
func TestNumericTerminator1(t *testing.T) { numericTerminatorCheck(t, 1) }

// TestNumericTerminator2 is test_numeric_terminator2: Length(6).
func TestNumericTerminator2(t *testing.T) { numericTerminatorCheck(t, 6) }

// TestNoneTerminator is test_none_terminator: everything is collected and
// nothing framed.
func TestNoneTerminator(t *testing.T) {
	data := "hello world, I'm not dead yet!\n"
	forEachBackend(t, func(t *testing.T, e *env) {
		s := startEchoServer(t, 1, nil)
		c := newEchoClient(t, e.m, chat.None, s.addr)
		c.Push([]byte(data))
		c.Push([]byte(serverQuit))
		finish(e, c, s)
		assert.Empty(t, c.contents)
		assert.Equal(t, data, string(c.buffer))
	})
}

// TestSimpleProducer is test_simple_producer: a SimpleProducer with an
// 8-byte buffer.
func TestSimpleProducer(t *testing.T) {
	data := "hello world\nI'm not dead yet!\n"
	forEachBackend(t, func(t *testing.T, e *env) {
		s := startEchoServer(t, 1, nil)
		c := newEchoClient(t, e.m, chat.DelimiterString("\n"), s.addr)
		c.PushWithProducer(producer.SimpleProducer([]byte(data+serverQuit), 8))
		finish(e, c, s)
		assert.Equal(t, []string{"hello world", "I'm not dead yet!"}, c.contents)
	})
}

// TestStringProducer is test_string_producer. Python passes a bytes object
// as the producer, and initiate_send sends it in ac_out_buffer_size slices.
// A Go Producer is an interface that []byte does not implement; the same
// thing is a SimpleProducer whose buffer size is the output buffer size,
// which hands out the slice itself in pieces of that size. Push of the
// same bytes is the other equivalent and is covered by the other tests.
func TestStringProducer(t *testing.T) {
	data := "hello world\nI'm not dead yet!\n"
	forEachBackend(t, func(t *testing.T, e *env) {
		s := startEchoServer(t, 1, nil)
		c := newEchoClient(t, e.m, chat.DelimiterString("\n"), s.addr)
		c.PushWithProducer(producer.SimpleProducer([]byte(data+serverQuit), chat.DefaultBufferSize))
		finish(e, c, s)
		assert.Equal(t, []string{"hello world", "I'm not dead yet!"}, c.contents)
	})
}

// TestEmptyLine is test_empty_line: an empty line is a frame with no
// preceding CollectIncomingData.
func TestEmptyLine(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		s := startEchoServer(t, 1, nil)
		c := newEchoClient(t, e.m, chat.DelimiterString("\n"), s.addr)
		c.Push([]byte("hello world\n\nI'm not dead yet!\n"))
		c.Push([]byte(serverQuit))
		finish(e, c, s)
		assert.Equal(t, []string{"hello world", "", "I'm not dead yet!"}, c.contents)
	})
}

// TestCloseWhenDone is test_close_when_done: the client closes once its
// output is written, before the server (held back by startResend) echoes
// anything; the server did receive the data.
func TestCloseWhenDone(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		resend := make(chan struct{})
		s := startEchoServer(t, 1, resend)
		c := newEchoClient(t, e.m, chat.DelimiterString("\n"), s.addr)
		c.Push([]byte("hello world\nI'm not dead yet!\n"))
		c.Push([]byte(serverQuit))
		c.CloseWhenDone()
		e.runUntil(func() bool { return c.Fd() < 0 })
		close(resend)
		s.join(t)
		assert.Empty(t, c.contents)
		assert.NotEmpty(t, s.buffer)
		assert.Equal(t, "hello world\nI'm not dead yet!\n", string(s.buffer))
	})
}

// TestPush is test_push (bpo-12523). Python pushes bytes, a bytearray and a
// memoryview; the Go counterparts are a []byte, a buffer the caller
// overwrites as soon as Push returns (Push has copied what it could not
// send), and a sub-slice of a larger array. Python's push(10) and
// push('unicode') raise TypeError; in Go they do not compile, so the type
// system has replaced those two checks.
func TestPush(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		s := startEchoServer(t, 1, nil)
		c := newEchoClient(t, e.m, chat.DelimiterString("\n"), s.addr)
		c.Push([]byte("bytes\n"))
		reused := []byte("bytes\n")
		c.Push(reused)
		copy(reused, "XXXXXX")
		backing := []byte("..bytes\n..")
		c.Push(backing[2:8])
		c.Push([]byte(serverQuit))
		finish(e, c, s)
		assert.Equal(t, []string{"bytes", "bytes", "bytes"}, c.contents)
	})
}

// blockingChat records whether HandleError or HandleClose ran.
type blockingChat struct {
	chat.AsyncChat
	errors, closes int
}

func (c *blockingChat) HandleError(error) { c.errors++ }
func (c *blockingChat) HandleClose()      { c.closes++ }

// TestBlockingIOError is TestAsynchatMocked.test_blockingioerror
// (bpo-16133): HandleRead on a socket with nothing to read (recv fails
// with EAGAIN) must not call HandleError. Python mocks the socket; a real
// socketpair with no data gives the same EAGAIN. As in Python, no
// terminator is set.
func TestBlockingIOError(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		c := &blockingChat{}
		c.Init(c, e.m)
		e.pair(c)
		c.HandleRead()
		assert.Zero(t, c.errors, "HandleError called on EAGAIN")
		assert.Zero(t, c.closes)
		assert.GreaterOrEqual(t, c.Fd(), 0)
		assert.True(t, c.Connected())
	})
}

// TestFindPrefixAtEnd is TestHelperFunctions.test_find_prefix_at_end.
func TestFindPrefixAtEnd(t *testing.T) {
	assert.Equal(t, 1, chat.PrefixAtEnd([]byte("qwerty\r"), []byte("\r\n")))
	assert.Equal(t, 0, chat.PrefixAtEnd([]byte("qwertydkjf"), []byte("\r\n")))
}

// TestDisallowNegativeTerminator is
// TestNotConnected.test_disallow_negative_terminator (bpo-11259): a
// negative length is a programming error, a ValueError in Python and a
// panic here.
func TestDisallowNegativeTerminator(t *testing.T) {
	c := &chat.AsyncChat{}
	assert.PanicsWithValue(t, "chat: Length(-1): the number of received bytes must be positive", func() {
		c.SetTerminator(chat.Length(-1))
	})
}
