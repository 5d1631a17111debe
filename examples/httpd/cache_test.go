package main

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/asyncore-go/asyncore/loop"
)

// cacheServer is a server with only what cached needs: a root holding
// files, and a cache whose clock the test moves.
type cacheServer struct {
	*server
	clock *time.Time
}

func newCacheServer(t *testing.T, opt cacheOptions, files map[string]string) cacheServer {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	require.NoError(t, os.Mkdir(root, 0o755))
	for name, data := range files {
		require.NoError(t, os.WriteFile(filepath.Join(root, name), []byte(data), 0o644))
	}
	real, err := resolveRoot(root)
	require.NoError(t, err)
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	fc := newFileCache(opt)
	require.NotNil(t, fc)
	fc.now = func() time.Time { return clock }
	fd, err := unix.Open(real, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	require.NoError(t, err)
	t.Cleanup(func() { _ = unix.Close(fd) })
	return cacheServer{&server{root: real, rootFD: fd, cache: fc}, &clock}
}

func (s cacheServer) write(t *testing.T, name, data string) {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(s.root, name), []byte(data), 0o644))
}

// body returns the cached body of urlPath, or "" with false.
func (s cacheServer) body(urlPath string) (string, bool) {
	f, ok := s.cached(urlPath)
	if !ok {
		return "", false
	}
	return string(f.body), true
}

func TestFileCache(t *testing.T) {
	opt := cacheOptions{TTL: time.Second, MaxFile: 16, Size: 1 << 10}

	t.Run("fresh entries are served without looking", func(t *testing.T) {
		s := newCacheServer(t, opt, map[string]string{"a.txt": "first"})
		body, ok := s.body("/a.txt")
		require.True(t, ok)
		assert.Equal(t, "first", body)
		f, _ := s.cached("/a.txt")
		assert.Equal(t, "5", f.length)
		assert.Equal(t, "text/plain; charset=utf-8", f.contentType)

		// Within the TTL a change is not seen; removing the file is not
		// either. That is the price of serving without a system call.
		s.write(t, "a.txt", "other")
		// Set the mtime: a write in the same clock tick may not change it.
		later := time.Now().Add(time.Minute)
		require.NoError(t, os.Chtimes(filepath.Join(s.root, "a.txt"), later, later))
		*s.clock = s.clock.Add(opt.TTL - time.Nanosecond)
		body, _ = s.body("/a.txt")
		assert.Equal(t, "first", body)

		// Once the TTL has passed the file is checked, and read again as
		// it changed (same size: the new mtime gives it away).
		*s.clock = s.clock.Add(time.Nanosecond)
		body, ok = s.body("/a.txt")
		require.True(t, ok)
		assert.Equal(t, "other", body)
	})

	t.Run("an unchanged file is not read again", func(t *testing.T) {
		s := newCacheServer(t, opt, map[string]string{"a.txt": "same"})
		first, ok := s.cached("/a.txt")
		require.True(t, ok)
		*s.clock = s.clock.Add(time.Hour)
		again, ok := s.cached("/a.txt")
		require.True(t, ok)
		assert.Same(t, first, again, "revalidated, not replaced")
		assert.Equal(t, *s.clock, again.checked)
	})

	t.Run("a file renamed over is a new file", func(t *testing.T) {
		// Same size, same mtime: only the inode tells them apart.
		s := newCacheServer(t, opt, map[string]string{"a.txt": "old", "new.txt": "new"})
		mt := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
		for _, n := range []string{"a.txt", "new.txt"} {
			require.NoError(t, os.Chtimes(filepath.Join(s.root, n), mt, mt))
		}
		body, _ := s.body("/a.txt")
		assert.Equal(t, "old", body)
		require.NoError(t, os.Rename(filepath.Join(s.root, "new.txt"), filepath.Join(s.root, "a.txt")))
		*s.clock = s.clock.Add(opt.TTL)
		body, _ = s.body("/a.txt")
		assert.Equal(t, "new", body)
	})

	t.Run("ttl 0 checks every request", func(t *testing.T) {
		s := newCacheServer(t, cacheOptions{TTL: 0, MaxFile: 16, Size: 1 << 10}, map[string]string{"a.txt": "one"})
		body, _ := s.body("/a.txt")
		assert.Equal(t, "one", body)
		s.write(t, "a.txt", "two, longer")
		body, _ = s.body("/a.txt")
		assert.Equal(t, "two, longer", body)
		require.NoError(t, os.Remove(filepath.Join(s.root, "a.txt")))
		_, ok := s.body("/a.txt")
		assert.False(t, ok)
		assert.Empty(t, s.cache.entries)
		assert.Zero(t, s.cache.bytes)
	})

	t.Run("what is not cached", func(t *testing.T) {
		s := newCacheServer(t, opt, map[string]string{"big.txt": "seventeen bytes!!", "edge.txt": "sixteen bytes!!!"})
		require.NoError(t, os.Mkdir(filepath.Join(s.root, "dir"), 0o755))
		secret := filepath.Join(filepath.Dir(s.root), "secret")
		require.NoError(t, os.WriteFile(secret, []byte("outside"), 0o644))
		require.NoError(t, os.Symlink(secret, filepath.Join(s.root, "out")))
		for _, p := range []string{"/big.txt", "/missing", "/dir", "/dir/", "/edge.txt/", "/out"} {
			_, ok := s.cached(p)
			assert.False(t, ok, p)
		}
		body, ok := s.body("/edge.txt")
		assert.True(t, ok, "a file of exactly MaxFile bytes is cached")
		assert.Equal(t, "sixteen bytes!!!", body)
		assert.Len(t, s.cache.entries, 1)

		// A cached file that grows past MaxFile leaves the cache.
		s.write(t, "edge.txt", "now it is too big for the cache")
		*s.clock = s.clock.Add(opt.TTL)
		_, ok = s.cached("/edge.txt")
		assert.False(t, ok)
		assert.Empty(t, s.cache.entries)
		assert.Zero(t, s.cache.bytes)
	})

	t.Run("size bound", func(t *testing.T) {
		files := map[string]string{}
		for _, n := range "abcdefgh" {
			files[string(n)+".txt"] = "0123456789" // 10 bytes each
		}
		s := newCacheServer(t, cacheOptions{TTL: time.Second, MaxFile: 16, Size: 35}, files)
		for name := range files {
			body, ok := s.body("/" + name)
			require.True(t, ok)
			assert.Equal(t, "0123456789", body)
			assert.LessOrEqual(t, s.cache.bytes, int64(35))
		}
		assert.Len(t, s.cache.entries, 3)
		var sum int64
		for _, e := range s.cache.entries {
			sum += int64(len(e.body))
		}
		assert.Equal(t, sum, s.cache.bytes)
	})

	t.Run("index.html stands for its directory", func(t *testing.T) {
		s := newCacheServer(t, opt, map[string]string{"index.html": "<p>hi</p>"})
		body, ok := s.body("/")
		require.True(t, ok)
		assert.Equal(t, "<p>hi</p>", body)
		f, _ := s.cached("/")
		assert.Equal(t, "text/html; charset=utf-8", f.contentType)
	})

	t.Run("off", func(t *testing.T) {
		assert.Nil(t, newFileCache(cacheOptions{TTL: -1, MaxFile: 16, Size: 16}))
		assert.Nil(t, newFileCache(cacheOptions{TTL: time.Second, MaxFile: 0, Size: 16}))
		assert.Nil(t, newFileCache(cacheOptions{TTL: time.Second, MaxFile: 16, Size: 0}))
		s := &server{root: t.TempDir()}
		_, ok := s.cached("/")
		assert.False(t, ok)
	})
}

// TestServerClock: the server's wall clock follows the loop's clock
// between readings of time.Now, which it takes again at the second's turn
// (for the Date header) and if the loop's clock goes back.
func TestServerClock(t *testing.T) {
	var mono time.Duration
	m := loop.NewMap()
	l, err := loop.New(loop.Options{Map: m, Clock: func() time.Duration { return mono }})
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	s, err := newServer(t.TempDir(), options{cache: defaultCacheOptions})
	require.NoError(t, err)
	t.Cleanup(func() { _ = unix.Close(s.rootFD) })
	s.Init(s, m)

	w0 := s.now()
	assert.Equal(t, w0.UTC().Format(http.TimeFormat), s.date())
	toTurn := time.Second - time.Duration(w0.Nanosecond())
	mono += toTurn / 2
	// The loop's clock never reads the same twice: it adds a nanosecond.
	assert.InDelta(t, toTurn/2, s.now().Sub(w0), 10, "between seconds, the loop's clock alone")
	assert.Equal(t, w0.UTC().Format(http.TimeFormat), s.date())
	fresh := s.cache.now()
	assert.InDelta(t, toTurn/2, fresh.Sub(w0), 10, "the cache reads the same clock")

	mono = toTurn // the second's turn: time.Now again
	before := time.Now()
	w1 := s.now()
	assert.False(t, w1.Before(before), "re-read from the system clock at the second's turn")
	assert.Equal(t, w1.UTC().Format(http.TimeFormat), s.date())
}

// TestServerClockWithoutLoop: a server in no loop's map, or in a map no
// loop has run yet, still dates its replies, from the system clock.
func TestServerClockWithoutLoop(t *testing.T) {
	s := &server{}
	s2 := &server{}
	s2.Init(s2, loop.NewMap())
	for _, s := range []*server{s, s2} {
		before := time.Now().Truncate(time.Second)
		d, err := http.ParseTime(s.date())
		require.NoError(t, err)
		assert.False(t, d.Before(before), "Date %v before %v", d, before)
	}
}

// TestCachedReply: the prebuilt reply to a kept-alive GET of a cached file
// is, byte for byte, what the general path formats (head, then the body if
// small), is reused while the Date stays the same, and is built again with
// the new Date at the second's turn.
func TestCachedReply(t *testing.T) {
	var mono time.Duration
	m := loop.NewMap()
	l, err := loop.New(loop.Options{Map: m, Clock: func() time.Duration { return mono }})
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	root := t.TempDir()
	small, large := "<h1>It works.</h1>\n", string(make([]byte, copyBelow))
	require.NoError(t, os.WriteFile(filepath.Join(root, "small.html"), []byte(small), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(root, "large.bin"), []byte(large), 0o644))
	real, err := resolveRoot(root)
	require.NoError(t, err)
	s, err := newServer(real, options{cache: defaultCacheOptions})
	require.NoError(t, err)
	t.Cleanup(func() { _ = unix.Close(s.rootFD) })
	wall := time.Date(2026, 1, 2, 3, 4, 5, 500_000_000, time.UTC)
	s.wall = func() time.Time { return wall }
	s.Init(s, m)

	for _, tc := range []struct{ path, body string }{{"/small.html", small}, {"/large.bin", large}} {
		t.Run(tc.path, func(t *testing.T) {
			f, ok := s.cached(tc.path)
			require.True(t, ok)
			want := func() string {
				h := appendFileFields(appendHeadStart(nil, http.StatusOK, s.date()), &f.fileHead)
				h = append(h, "\r\n"...)
				if len(f.body) < copyBelow {
					h = append(h, f.body...)
				}
				return string(h)
			}
			reply, head := s.cachedReply(f)
			assert.Equal(t, want(), string(reply))
			if len(tc.body) < copyBelow {
				assert.Equal(t, len(reply)-len(tc.body), head, "the head's length")
			} else {
				assert.Equal(t, len(reply), head, "a large body is not in the reply")
			}
			again, _ := s.cachedReply(f)
			assert.Same(t, &reply[0], &again[0], "the same second: the same reply")

			date := s.date()
			mono += time.Second // past the second's turn
			wall = wall.Add(time.Second)
			reply, _ = s.cachedReply(f)
			require.NotEqual(t, date, s.date())
			assert.Equal(t, want(), string(reply), "the next second: the new Date")
		})
	}
}
