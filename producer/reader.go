package producer

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"syscall"

	"github.com/asyncore-go/asyncore/internal/config"
)

// defaultReaderSize is the Reader chunk size when none is given: asynchat's
// ac_out_buffer_size, the most AsyncChat writes from one item at a time.
const defaultReaderSize = config.IOChunk

// minFileBuffer is the smallest buffer FileProducer allocates for a small
// file; below it, saving memory no longer matters.
const minFileBuffer = 512

// maxEmptyReads is how many (0, nil) results from Read in a row More
// accepts before giving up with io.ErrNoProgress, as bufio.Reader does.
const maxEmptyReads = 100

// Reader produces the contents of an io.Reader in chunks of at most
// bufferSize bytes, reading one chunk per More into a buffer it reuses, so a
// large file is served without being read into memory at once. At EOF or on
// an error More returns an empty chunk; Err reports a read error other than
// EOF. If the reader is an io.Closer, it is closed when the producer is
// exhausted or by Close.
//
// More blocks for as long as the underlying Read blocks, and it runs on the
// loop's goroutine: use Reader for files and in-memory readers, not for
// pipes or network connections.
type Reader struct {
	r    io.Reader
	size int
	buf  []byte // allocated by the first More, released at exhaustion
	err  error  // first error other than io.EOF
	eof  bool   // Read reported io.EOF or an error along with the last chunk
	done bool   // exhausted or closed: More returns nil
	// closed is set once the underlying reader has been closed (or there
	// was nothing to close), so Close is idempotent.
	closed bool
}

// ReaderProducer returns a Reader over r; bufferSize <= 0 means 65536.
func ReaderProducer(r io.Reader, bufferSize int) *Reader {
	if bufferSize <= 0 {
		bufferSize = defaultReaderSize
	}
	return &Reader{r: r, size: bufferSize}
}

// ErrNotRegular is returned by FileProducer and FileProducerFrom for a
// file that is not a regular file: a FIFO, a device, a socket or a
// directory. Reading such a file can block for as long as its other end
// wants — a FIFO without a writer, a terminal, a tape — and More runs on the
// loop's goroutine, where blocking stops every channel. Serve such sources
// from a dispatcher of their own (dispatcher.FileDispatcher), which waits
// for readiness.
var ErrNotRegular = errors.New("not a regular file")

// FileProducer opens path and returns a Reader over it (closed when
// exhausted); bufferSize <= 0 means 65536. A regular file smaller than
// bufferSize gets a buffer of its own size, so that serving many small files
// does not cost a full buffer each.
//
// Only regular files are served. The file is opened without blocking
// (O_NONBLOCK, so that opening a FIFO does not wait for a writer) and
// checked with fstat; anything else is closed again and refused with an
// *fs.PathError wrapping ErrNotRegular. Opening is the only step: what is
// checked is what is read, even if path is replaced meanwhile. Other errors
// are the ones os.OpenFile or fstat returned.
func FileProducer(path string, bufferSize int) (*Reader, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, err
	}
	p, err := FileProducerFrom(f, bufferSize)
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return p, nil
}

// FileProducerFrom returns a Reader over f, which must be an open regular
// file: FileProducer for a file the caller opened itself (with O_NONBLOCK
// and without following symbolic links, say, or relative to a directory
// descriptor). The Reader reads from f's current offset and closes f when
// exhausted or closed. bufferSize is as for FileProducer. If f is not a
// regular file the error wraps ErrNotRegular, and f is left open: it is
// still the caller's.
func FileProducerFrom(f *os.File, bufferSize int) (*Reader, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, &fs.PathError{Op: "open", Path: f.Name(), Err: ErrNotRegular}
	}
	p := ReaderProducer(f, bufferSize)
	if st.Size() < int64(p.size) {
		// One byte more than the size lets the first Read take the whole
		// file, even if it grew a little since the Stat.
		p.size = max(int(st.Size())+1, minFileBuffer)
	}
	return p, nil
}

// More reads the next chunk of at most bufferSize bytes and returns it. The
// chunk lives in a buffer that the next call overwrites. At EOF or on an
// error More returns nil, closes the reader if it is an io.Closer and
// releases the buffer; every later call returns nil.
func (p *Reader) More() []byte {
	if p.done {
		return nil
	}
	if p.eof {
		p.finish()
		return nil
	}
	if p.buf == nil {
		p.buf = make([]byte, p.size)
	}
	for range maxEmptyReads {
		n, err := p.r.Read(p.buf)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				p.err = err
			}
			// Data that came with the error is still delivered; the
			// producer ends at the next call.
			p.eof = true
		}
		if n > 0 {
			return p.buf[:n:n]
		}
		if p.eof {
			p.finish()
			return nil
		}
	}
	p.err = io.ErrNoProgress
	p.finish()
	return nil
}

// finish marks the producer exhausted, closes the reader and drops the
// buffer.
func (p *Reader) finish() {
	p.done = true
	p.buf = nil
	if err := p.closeReader(); err != nil && p.err == nil {
		p.err = err
	}
}

// Err returns the first error other than io.EOF that reading returned, or
// that closing the reader returned when the producer was exhausted, or
// io.ErrNoProgress if Read kept returning no data and no error. It is nil
// while the producer is still going and after a clean EOF.
func (p *Reader) Err() error { return p.err }

// Close stops the producer early: later calls to More return nil. It closes
// the reader if it is an io.Closer and has not been closed yet, and returns
// that Close's error; otherwise it returns nil. FIFO.Discard calls it for
// producers still queued.
func (p *Reader) Close() error {
	p.done = true
	p.buf = nil
	return p.closeReader()
}

func (p *Reader) closeReader() error {
	if p.closed {
		return nil
	}
	p.closed = true
	if c, ok := p.r.(io.Closer); ok {
		return c.Close()
	}
	return nil
}
