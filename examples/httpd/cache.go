package main

import (
	"io"
	"net/http"
	"os"
	"syscall"
	"time"
)

// Defaults for the small-file cache; the -cache-* flags change them.
const (
	defaultCacheTTL     = time.Second
	defaultCacheMaxFile = 64 << 10
	defaultCacheSize    = 32 << 20
)

// cacheOptions configures the small-file cache.
//
// TTL is how long a cached file is served without asking the file system
// whether it changed. Once it has passed, the next request for the file
// resolves and stats it again (what an uncached request does), and reads
// it again only if its name, size, modification time or inode changed. A
// TTL of 0 revalidates on every request, which still saves the open and
// read; a negative TTL turns the cache off.
//
// MaxFile is the largest file kept in memory; bigger files are always
// streamed from disk by a fileBody. Size bounds the bytes held by all the
// cached files together.
type cacheOptions struct {
	TTL     time.Duration
	MaxFile int64
	Size    int64
}

// defaultCacheOptions are the options main uses without flags, and the
// tests with the running server.
var defaultCacheOptions = cacheOptions{TTL: defaultCacheTTL, MaxFile: defaultCacheMaxFile, Size: defaultCacheSize}

// fileCache holds small files in memory with the reply-head fields that
// describe them, keyed by URL path, so that a request for one costs no
// system call at all while its entry is fresh. Without it every GET costs
// a resolve (an openat per path component, then an fstat), a read and a
// close, a cost no event loop can hide (bench/README.md, "Measurements
// behind design choices", has the figure). nginx's open_file_cache and its
// "valid" time are the same idea.
//
// A file is cached only if it is a regular file of at most MaxFile bytes
// whose length, read, matched its fstat. Only the loop's goroutine uses a
// fileCache, so it needs no lock; entries are never modified in place
// (a changed file gets a new entry), so a body pushed to a connection's
// queue stays valid.
type fileCache struct {
	opt     cacheOptions
	now     func() time.Time // server.now, or time.Now; tests substitute a clock
	bytes   int64            // the sum of len(body) over entries
	entries map[string]*cachedFile
}

// cachedFile is one file held by a fileCache.
type cachedFile struct {
	name     string // relative to the root, with symbolic links resolved
	size     int64
	mtime    time.Time // as stat reported it, to the nanosecond
	ino      uint64
	body     []byte
	checked  time.Time // when the file system last confirmed the entry
	fileHead           // the reply-head values, formatted once

	// reply is the whole reply to a kept-alive HTTP/1.1 GET of the file
	// — its head, then its body when that is small enough to be copied
	// (copyBelow) — as of the server's Date replyDate. Only the Date
	// changes from one reply to the next, once a second, so the reply is
	// built again then (cachedReply) rather than for every request.
	// replyHead is the head's length. Push copies the reply, so the
	// buffer is reused for the next second's.
	reply     []byte
	replyHead int
	replyDate uint64 // server.dateGen when reply was built
}

// cachedReply returns the prebuilt reply to a kept-alive HTTP/1.1 GET of
// the cached file f, and the length of its head (the whole reply to a
// HEAD), building it again if the Date has changed since it was built.
// The caller copies it (Push): it is rebuilt in place.
func (s *server) cachedReply(f *cachedFile) (reply []byte, head int) {
	date := s.date()
	if f.reply == nil || f.replyDate != s.dateGen {
		r := appendFileFields(appendHeadStart(f.reply[:0], http.StatusOK, date), &f.fileHead)
		r = append(r, "\r\n"...)
		f.replyHead = len(r)
		if len(f.body) < copyBelow {
			r = append(r, f.body...)
		}
		f.reply, f.replyDate = r, s.dateGen
	}
	return f.reply, f.replyHead
}

// newFileCache returns a cache with opt, or nil — no cache — if opt.TTL is
// negative or opt.MaxFile or opt.Size is not positive.
func newFileCache(opt cacheOptions) *fileCache {
	if opt.TTL < 0 || opt.MaxFile <= 0 || opt.Size <= 0 {
		return nil
	}
	return &fileCache{opt: opt, now: time.Now, entries: make(map[string]*cachedFile)}
}

// fresh returns urlPath's cache entry if it is still within its TTL, and
// nil otherwise: the request must then be resolved (see fill). urlPath is
// the request's view of its head, looked up without a copy.
func (s *server) fresh(urlPath []byte) *cachedFile {
	fc := s.cache
	if fc == nil {
		return nil
	}
	if e := fc.entries[string(urlPath)]; e != nil && fc.now().Sub(e.checked) < fc.opt.TTL {
		return e
	}
	return nil
}

// fill returns the cache entry for urlPath, which resolve has just opened
// as f (named name, with FileInfo info): the existing entry if the file is
// unchanged (same name, size, modification time and inode), else a new one
// read from f. It returns nil when the request must be served the uncached
// way — no cache, a file too big, or one that changed under the read —
// and f is the caller's either way. The read uses pread, so f's offset is
// still 0 for a caller that streams it.
func (s *server) fill(urlPath string, f *os.File, name string, info os.FileInfo) *cachedFile {
	fc := s.cache
	if fc == nil {
		return nil
	}
	now := fc.now()
	e := fc.entries[urlPath]
	if info.Size() > fc.opt.MaxFile {
		fc.remove(urlPath, e)
		return nil
	}
	if e != nil && e.name == name && e.size == info.Size() && e.mtime.Equal(info.ModTime()) && e.ino == inode(info) {
		e.checked = now
		return e
	}
	fc.remove(urlPath, e)
	e, ok := readSmall(f, name, info)
	if !ok {
		return nil
	}
	e.checked = now
	fc.add(urlPath, e)
	return e
}

// forget drops urlPath's entry: its file is gone (a 404 is not cached, so
// a file that appears is found at once).
func (s *server) forget(urlPath string) {
	if fc := s.cache; fc != nil {
		fc.remove(urlPath, fc.entries[urlPath])
	}
}

// cached returns the cached file that urlPath (as for resolve) names,
// resolving it and reading it into the cache if it is not fresh: fresh,
// then resolve and fill, as serveFile does. It reports false when the
// request must be served the uncached way.
func (s *server) cached(urlPath string) (*cachedFile, bool) {
	if s.cache == nil {
		return nil, false
	}
	if e := s.fresh([]byte(urlPath)); e != nil {
		return e, true
	}
	f, name, info, status := s.resolve(urlPath)
	if status != 0 {
		s.forget(urlPath)
		return nil, false
	}
	defer f.Close()
	e := s.fill(urlPath, f, name, info)
	return e, e != nil
}

// readSmall reads the open regular file f whole, if its length did not
// change between the fstat that gave info and the read.
func readSmall(f *os.File, name string, info os.FileInfo) (*cachedFile, bool) {
	// One byte more than announced, to see a file that grew.
	body := make([]byte, info.Size()+1)
	n, err := f.ReadAt(body, 0)
	if int64(n) != info.Size() || err != io.EOF {
		return nil, false
	}
	return &cachedFile{
		name:     name,
		size:     info.Size(),
		mtime:    info.ModTime(),
		ino:      inode(info),
		body:     body[:n:n],
		fileHead: newFileHead(name, info),
	}, true
}

// inode returns the file's inode number, so that a file replaced by
// another of the same size and modification time (a rename over it) is
// seen as changed; 0 where the system does not say.
func inode(info os.FileInfo) uint64 {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino)
	}
	return 0
}

// add stores e under urlPath, first evicting entries until the cache's
// bytes fit its Size. Map iteration order makes the victims random, which
// is cheap and good enough for a cache of small static files.
func (fc *fileCache) add(urlPath string, e *cachedFile) {
	size := int64(len(e.body))
	if size > fc.opt.Size {
		return
	}
	for k, old := range fc.entries {
		if fc.bytes+size <= fc.opt.Size {
			break
		}
		fc.remove(k, old)
	}
	fc.entries[urlPath] = e
	fc.bytes += size
}

// remove drops urlPath's entry e, if there is one.
func (fc *fileCache) remove(urlPath string, e *cachedFile) {
	if e == nil {
		return
	}
	delete(fc.entries, urlPath)
	fc.bytes -= int64(len(e.body))
}
