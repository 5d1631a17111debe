package producer

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// drain calls More until it returns an empty chunk (at most limit times)
// and returns the chunks as strings.
func drain(t *testing.T, p Producer, limit int) []string {
	t.Helper()
	var out []string
	for range limit {
		c := p.More()
		if len(c) == 0 {
			return out
		}
		out = append(out, string(c))
	}
	t.Fatalf("producer not exhausted after %d chunks", limit)
	return nil
}

func TestSimpleProducer(t *testing.T) {
	// The C16 examples, checked against CPython 3.11's simple_producer.
	tests := []struct {
		name string
		data string
		size int
		want []string
	}{
		{"remainder", "abcdefghij", 4, []string{"abcd", "efgh", "ij"}},
		{"exact multiple", "abcdefgh", 4, []string{"abcd", "efgh"}},
		{"shorter than size", "abc", 4, []string{"abc"}},
		{"size one", "abc", 1, []string{"a", "b", "c"}},
		{"empty", "", 4, nil},
		{"default size", string(bytes.Repeat([]byte("x"), 1100)), 0,
			[]string{string(bytes.Repeat([]byte("x"), 512)), string(bytes.Repeat([]byte("x"), 512)), string(bytes.Repeat([]byte("x"), 76))}},
		{"negative size means default", "abc", -1, []string{"abc"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := SimpleProducer([]byte(tt.data), tt.size)
			assert.Equal(t, tt.want, drain(t, p, 100))
			// Later calls keep returning an empty chunk.
			assert.Empty(t, p.More())
			assert.Empty(t, p.More())
		})
	}
}

func TestSimpleProducerNoCopy(t *testing.T) {
	data := []byte("abcdefghij")
	p := SimpleProducer(data, 4)
	c := p.More()
	assert.Same(t, &data[0], &c[0], "chunks are sub-slices of the data")
	assert.Equal(t, 4, cap(c), "a chunk's capacity stops at its end")
	grown := append(c, 'Z')
	assert.Equal(t, "abcdZ", string(grown))
	assert.Equal(t, "abcdefghij", string(data), "appending to a chunk leaves the data alone")
}

func TestReaderProducer(t *testing.T) {
	data := []byte("the quick brown fox jumps over the lazy dog")
	for _, size := range []int{1, 3, 7, 16, len(data), 1000} {
		p := ReaderProducer(bytes.NewReader(data), size)
		chunks := drain(t, p, 1000)
		for _, c := range chunks {
			assert.LessOrEqual(t, len(c), size)
		}
		var joined string
		for _, c := range chunks {
			joined += c
		}
		assert.Equal(t, string(data), joined, "size %d", size)
		assert.NoError(t, p.Err())
		assert.Empty(t, p.More())
	}
}

func TestReaderProducerSlowReaders(t *testing.T) {
	data := []byte("0123456789abcdef")
	readers := map[string]io.Reader{
		"one byte":       iotest.OneByteReader(bytes.NewReader(data)),
		"data with EOF":  iotest.DataErrReader(bytes.NewReader(data)),
		"half":           iotest.HalfReader(bytes.NewReader(data)),
		"zero then data": &zeroReader{zeros: 5, r: bytes.NewReader(data)},
	}
	for name, r := range readers {
		t.Run(name, func(t *testing.T) {
			p := ReaderProducer(r, 8)
			var got []byte
			for _, c := range drain(t, p, 100) {
				got = append(got, c...)
			}
			assert.Equal(t, data, got)
			assert.NoError(t, p.Err())
		})
	}
}

// zeroReader returns (0, nil) zeros times before reading from r.
type zeroReader struct {
	zeros int
	r     io.Reader
}

func (z *zeroReader) Read(b []byte) (int, error) {
	if z.zeros > 0 {
		z.zeros--
		return 0, nil
	}
	return z.r.Read(b)
}

func TestReaderProducerNoProgress(t *testing.T) {
	p := ReaderProducer(&zeroReader{zeros: 1 << 30}, 8)
	assert.Empty(t, p.More())
	assert.ErrorIs(t, p.Err(), io.ErrNoProgress)
}

func TestReaderProducerError(t *testing.T) {
	errBoom := errors.New("boom")

	t.Run("error at once", func(t *testing.T) {
		p := ReaderProducer(iotest.ErrReader(errBoom), 8)
		assert.Empty(t, p.More())
		assert.ErrorIs(t, p.Err(), errBoom)
		assert.Empty(t, p.More(), "exhausted for good")
	})

	t.Run("error after data", func(t *testing.T) {
		r := io.MultiReader(bytes.NewReader([]byte("abc")), iotest.ErrReader(errBoom))
		p := ReaderProducer(r, 8)
		assert.Equal(t, "abc", string(p.More()))
		assert.NoError(t, p.Err())
		assert.Empty(t, p.More())
		assert.ErrorIs(t, p.Err(), errBoom)
	})

	t.Run("data and error together", func(t *testing.T) {
		p := ReaderProducer(iotest.TimeoutReader(bytes.NewReader([]byte("abcdefghij"))), 4)
		assert.Equal(t, "abcd", string(p.More()))
		assert.Empty(t, p.More())
		assert.ErrorIs(t, p.Err(), iotest.ErrTimeout)
	})
}

// countingCloser wraps a reader and counts Close calls.
type countingCloser struct {
	io.Reader
	closes int
	err    error
}

func (c *countingCloser) Close() error {
	c.closes++
	return c.err
}

func TestReaderProducerClose(t *testing.T) {
	t.Run("closed at exhaustion", func(t *testing.T) {
		c := &countingCloser{Reader: bytes.NewReader([]byte("abcdef"))}
		p := ReaderProducer(c, 4)
		assert.Equal(t, []string{"abcd", "ef"}, drain(t, p, 10))
		assert.Equal(t, 1, c.closes)
		assert.NoError(t, p.Close(), "Close after exhaustion is a no-op")
		assert.Empty(t, p.More())
		assert.Equal(t, 1, c.closes)
	})

	t.Run("closed early", func(t *testing.T) {
		c := &countingCloser{Reader: bytes.NewReader([]byte("abcdef"))}
		p := ReaderProducer(c, 4)
		assert.Equal(t, "abcd", string(p.More()))
		assert.NoError(t, p.Close())
		assert.Equal(t, 1, c.closes)
		assert.Empty(t, p.More(), "nothing after Close")
		assert.NoError(t, p.Close())
		assert.Equal(t, 1, c.closes)
	})

	t.Run("close error", func(t *testing.T) {
		errClose := errors.New("close failed")
		c := &countingCloser{Reader: bytes.NewReader(nil), err: errClose}
		p := ReaderProducer(c, 4)
		assert.Empty(t, p.More())
		assert.ErrorIs(t, p.Err(), errClose, "a close error at exhaustion shows in Err")

		c = &countingCloser{Reader: bytes.NewReader(nil), err: errClose}
		assert.ErrorIs(t, ReaderProducer(c, 4).Close(), errClose)
	})
}

func TestFileProducer(t *testing.T) {
	dir := t.TempDir()
	f, err := os.CreateTemp(dir, "producer")
	require.NoError(t, err)
	data := bytes.Repeat([]byte("0123456789"), 10000) // 100,000 bytes
	_, err = f.Write(data)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	p, err := FileProducer(f.Name(), 4096)
	require.NoError(t, err)
	file := p.r.(*os.File)
	var got []byte
	chunks := 0
	for {
		c := p.More()
		if len(c) == 0 {
			break
		}
		assert.LessOrEqual(t, len(c), 4096)
		got = append(got, c...)
		chunks++
	}
	assert.Equal(t, data, got)
	assert.Equal(t, 25, chunks)
	assert.NoError(t, p.Err())
	assert.ErrorIs(t, file.Close(), os.ErrClosed, "the file was closed at exhaustion")

	// The same file through ReaderProducer, with a wrapper that counts the
	// closes: exactly one, at exhaustion, and none before.
	rf, err := os.Open(f.Name())
	require.NoError(t, err)
	fc := &fileCloser{File: rf}
	p = ReaderProducer(fc, 65536)
	got = got[:0]
	for c := p.More(); len(c) > 0; c = p.More() {
		got = append(got, c...)
		assert.Zero(t, fc.closes, "not closed before exhaustion")
	}
	assert.Equal(t, data, got)
	assert.Equal(t, 1, fc.closes)
	assert.NoError(t, p.Close())
	assert.Equal(t, 1, fc.closes, "Close after exhaustion does not close again")
}

// fileCloser counts the closes of a file.
type fileCloser struct {
	*os.File
	closes int
}

func (c *fileCloser) Close() error {
	c.closes++
	return c.File.Close()
}

func TestFileProducerSmallFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "small")
	require.NoError(t, os.WriteFile(path, []byte("hello"), 0o600))

	p, err := FileProducer(path, 0)
	require.NoError(t, err)
	assert.Equal(t, minFileBuffer, p.size, "a small file does not get a 64 KiB buffer")
	assert.Equal(t, []string{"hello"}, drain(t, p, 10))
	assert.ErrorIs(t, p.r.(*os.File).Close(), os.ErrClosed)
}

func TestFileProducerCloseEarly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	require.NoError(t, os.WriteFile(path, []byte("abcdefgh"), 0o600))

	p, err := FileProducer(path, 4)
	require.NoError(t, err)
	assert.Equal(t, "abcd", string(p.More()))
	require.NoError(t, p.Close())
	assert.Empty(t, p.More())
	assert.ErrorIs(t, p.r.(*os.File).Close(), os.ErrClosed)
}

func TestFileProducerMissing(t *testing.T) {
	p, err := FileProducer(filepath.Join(t.TempDir(), "missing"), 0)
	assert.Nil(t, p)
	assert.ErrorIs(t, err, os.ErrNotExist)
}
