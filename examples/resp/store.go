package main

import (
	"time"
	"unsafe"
)

// sweepEvery and sweepBudget pace active expiry: every sweepEvery the store
// looks at up to sweepBudget keys that have a deadline and deletes those that
// have passed it, so expired keys nobody reads again do not stay in memory
// for ever. Keys that are read are expired on access (lazily), whether or
// not a sweep has reached them. Redis's activeExpireCycle works the same way,
// with a random sample every 100 ms.
const (
	sweepEvery  = 100 * time.Millisecond
	sweepBudget = 1000
)

// entry is one key's value. The key is kept in the entry so that deleting
// it, or marking it as expiring, reuses its string instead of
// converting the request's bytes again.
//
// A small key and a small value live inside the entry itself (inline), so
// that a key with its value is one object on the heap, not three. That is
// for the cache more than for the allocator: a lookup in a keyspace too big
// for the cache misses once for each object it touches, and with the key,
// the deadline and the value side by side, the miss that compares the key
// also brings what GET reads next. Under redis-benchmark -r 100000 the
// misses of the lookup were the largest part of the server's time besides
// the system calls.
type entry struct {
	key    string // in inline when it fits (see setKey)
	val    []byte // in inline after the key when it fits (see writable)
	expire int64  // deadline on the store's clock; 0: none
	// shared is set once val has been queued by reference as part of a
	// reply (see client.pushValue): from then on its bytes must never be
	// written again, so a new value gets new memory (see writable).
	shared bool
	inline [inlineSize]byte
}

// inlineSize is the room inside an entry for a small key and value: it
// makes the entry 96 bytes, one of the allocator's size classes. "key:" and
// 12 digits with a value of a few bytes — redis-benchmark's, and many
// applications' — fit.
const inlineSize = 40

// setKey gives a new entry its key: inside the entry if it fits. The bytes
// of inline that hold the key are never written again (see spare), as a
// string's must not be.
func (e *entry) setKey(key []byte) {
	if len(key) > inlineSize || len(key) == 0 {
		e.key = string(key)
		return
	}
	n := copy(e.inline[:], key)
	e.key = unsafe.String(&e.inline[0], n)
}

// spare is the room inline has for a value: what the key leaves.
func (e *entry) spare() []byte {
	off := 0
	if len(e.key) > 0 && unsafe.StringData(e.key) == &e.inline[0] {
		off = len(e.key)
	}
	return e.inline[off:off:inlineSize]
}

// writable returns a buffer with room for n bytes, empty, for a new value
// of e to be written into: inline when the value fits there — so a large
// value replaced by a small one is not kept — else the old buffer when it
// is big enough and no reply refers to it, so that overwriting a key
// allocates nothing, and a new one otherwise. A value queued by reference
// is at least keepBuffer bytes (see client.value), so never inline: the
// inline bytes are never shared.
func (e *entry) writable(n int) []byte {
	if b := e.spare(); cap(b) >= n {
		e.shared = false
		return b
	}
	if e.shared || cap(e.val) < n {
		e.shared = false
		return make([]byte, 0, n)
	}
	return e.val[:0]
}

// store is the keyspace (see keyspace for why it is not a Go map), owned
// by the loop's goroutine like everything else, so it needs no lock.
type store struct {
	keys    *keyspace
	expires map[string]*entry // the keys that have a deadline, for the sweep
	start   time.Time
}

func newStore() *store {
	return &store{keys: newKeyspace(), expires: map[string]*entry{}, start: time.Now()}
}

// now reads the store's clock: monotonic nanoseconds since the store was
// made, so a change of the wall clock neither expires keys early nor keeps
// them late.
func (s *store) now() int64 { return int64(time.Since(s.start)) }

// get returns key's entry, or nil if it does not exist or has expired; an
// expired key is deleted on the way. It does not allocate.
func (s *store) get(key []byte) *entry {
	e := s.keys.get(key)
	if e != nil && e.expire != 0 && s.now() >= e.expire {
		s.remove(e)
		return nil
	}
	return e
}

// set stores val under key, copying it, and returns the entry. e is what
// get returned for key: an existing entry's buffer is reused unless a reply
// refers to it, so overwriting a key with a value no longer than its last
// one allocates nothing. The deadline is left as it was; the caller sets it
// with expireAt.
func (s *store) set(e *entry, key, val []byte) *entry {
	if e != nil {
		e.val = append(e.writable(len(val)), val...)
		return e
	}
	e = new(entry)
	e.setKey(key)
	e.val = append(e.writable(len(val)), val...)
	s.keys.insert(e)
	return e
}

// expireAt gives e a deadline on the store's clock, or none if at is 0.
func (s *store) expireAt(e *entry, at int64) {
	switch {
	case at != 0:
		s.expires[e.key] = e
	case e.expire != 0:
		delete(s.expires, e.key)
	}
	e.expire = at
}

// remove deletes e from the keyspace.
func (s *store) remove(e *entry) {
	s.keys.remove(e)
	if e.expire != 0 {
		delete(s.expires, e.key)
	}
}

// flush empties the keyspace. A fresh keyspace and map give the memory of
// a large one back to the garbage collector, which clear would not.
func (s *store) flush() {
	s.keys = newKeyspace()
	s.expires = map[string]*entry{}
}

// sweep deletes expired keys among up to sweepBudget of those that have a
// deadline. Go's map iteration starts at a random place, so successive
// sweeps sample different keys.
func (s *store) sweep() {
	now := s.now()
	n := 0
	for _, e := range s.expires {
		if n == sweepBudget {
			break
		}
		n++
		if now >= e.expire {
			s.remove(e) // deleting during range is allowed in Go
		}
	}
}
