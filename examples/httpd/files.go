package main

import (
	"errors"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/asyncore-go/asyncore/producer"
)

// resolve maps a URL path — already decoded, cleaned and free of ".."
// (targetPath) — to a regular file under the root, and returns its name with
// symbolic links resolved and its FileInfo. A directory stands for its
// index.html; a path ending in "/" must be a directory. It reports false,
// for a 404, when there is no such file, when the name is not a regular
// file (a FIFO would block the loop on open), and when a symbolic link leads
// out of the root.
func (s *server) resolve(urlPath string) (string, fs.FileInfo, bool) {
	name, info, ok := s.lookup(filepath.Join(s.root, filepath.FromSlash(urlPath)))
	switch {
	case ok && info.IsDir():
		name, info, ok = s.lookup(filepath.Join(name, "index.html"))
	case ok && strings.HasSuffix(urlPath, "/"):
		ok = false // "/file.txt/": a file is not a directory
	}
	if !ok || !info.Mode().IsRegular() {
		return "", nil, false
	}
	return name, info, true
}

// lookup resolves the symbolic links in name and stats the result, which
// must lie under the root. The root itself was resolved when the server
// started, so comparing the two resolved names is enough.
func (s *server) lookup(name string) (string, fs.FileInfo, bool) {
	real, err := filepath.EvalSymlinks(name)
	if err != nil {
		return "", nil, false
	}
	rel, err := filepath.Rel(s.root, real)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		slog.Debug("symbolic link leaves the root", "name", name, "target", real)
		return "", nil, false
	}
	info, err := os.Stat(real)
	if err != nil {
		return "", nil, false
	}
	return real, info, true
}

// contentType guesses a file's media type from its extension, with the
// system's MIME tables (mime.TypeByExtension), and falls back to
// application/octet-stream: "some bytes", which a browser will offer to save.
func contentType(name string) string {
	if t := mime.TypeByExtension(filepath.Ext(name)); t != "" {
		return t
	}
	return "application/octet-stream"
}

// fileHead is what a reply head says of a file, formatted.
type fileHead struct {
	contentType  string
	length       string    // Content-Length
	modified     time.Time // the modification time in UTC, truncated to the second
	lastModified string    // modified as an HTTP date
}

// newFileHead describes the file name, whose FileInfo is info. HTTP dates
// have one-second precision, so the modification time is compared, and
// sent, truncated to the second.
func newFileHead(name string, info fs.FileInfo) fileHead {
	mtime := info.ModTime().UTC().Truncate(time.Second)
	return fileHead{
		contentType:  contentType(name),
		length:       strconv.FormatInt(info.Size(), 10),
		modified:     mtime,
		lastModified: mtime.Format(http.TimeFormat),
	}
}

// fileBody is the body of a GET reply: a producer that streams a file
// through producer.FileProducer, one 64 KiB buffer at a time, as the socket
// takes it. The chat calls More when the previous chunk has been written,
// so however large the file, one buffer of it is in memory.
//
// It opens the file only when the output queue reaches it, so that a client
// pipelining a thousand GETs costs one open file at a time rather than a
// thousand. And it sends exactly the size announced in Content-Length,
// whatever happens to the file meanwhile: the extra bytes of a file that
// grew are not sent (they would be read as the start of the next reply),
// and a file that shrank or vanished ends the connection (see abort).
type fileBody struct {
	c    *conn
	name string
	left int64            // bytes still owed to the client
	r    *producer.Reader // nil until the first More
}

func newFileBody(c *conn, name string, size int64) *fileBody {
	return &fileBody{c: c, name: name, left: size}
}

// More returns the next chunk of the file, or nil when the announced size
// has been sent.
func (b *fileBody) More() []byte {
	if b.left <= 0 {
		_ = b.Close()
		return nil
	}
	if b.r == nil {
		r, err := producer.FileProducer(b.name, 0)
		if err != nil {
			b.abort(err)
			return nil
		}
		b.r = r
	}
	chunk := b.r.More()
	if len(chunk) == 0 {
		err := b.r.Err()
		if err == nil {
			err = errors.New("file shrank")
		}
		b.abort(err)
		return nil
	}
	if int64(len(chunk)) > b.left {
		chunk = chunk[:b.left]
	}
	b.left -= int64(len(chunk))
	return chunk
}

// abort handles a file that cannot supply the bytes its reply head
// promised. The connection must end: the client has to see a short body,
// not the next reply's bytes taken for the rest of this one. Closing the
// chat here is not possible (More runs while the chat is gathering its
// queue), so abort shuts down the socket's sending side instead: the client
// sees the end of the stream at once, and the chat's next send fails with
// EPIPE, which closes the connection.
func (b *fileBody) abort(err error) {
	slog.Warn("cannot send the rest of a file; closing the connection",
		"file", b.name, "missing", b.left, "err", err)
	b.left = 0
	_ = b.Close()
	if fd := b.c.Fd(); fd >= 0 {
		if err := unix.Shutdown(fd, unix.SHUT_WR); err != nil {
			slog.Warn("shutdown failed", "peer", b.c.Addr(), "err", err)
		}
	}
}

// Close releases the file. The chat's output queue calls it for a body it
// drops unsent, when the connection closes early.
func (b *fileBody) Close() error {
	b.left = 0
	if b.r == nil {
		return nil
	}
	return b.r.Close()
}
