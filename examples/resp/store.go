package main

import "time"

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
// it, or marking it as expiring, reuses the map's string instead of
// converting the request's bytes again.
type entry struct {
	key    string
	val    []byte
	expire int64 // deadline on the store's clock; 0: none
	// shared is set once val has been queued by reference as part of a
	// reply (see client.pushValue): from then on its bytes must never be
	// written again, so a new value gets new memory (see writable).
	shared bool
}

// writable returns e's value buffer emptied, with room for n bytes, for a
// new value to be written into: the old buffer when it is big enough and
// no reply refers to it, so that overwriting a key allocates nothing, and
// a new one otherwise.
func (e *entry) writable(n int) []byte {
	if e.shared || cap(e.val) < n {
		e.shared = false
		return make([]byte, 0, n)
	}
	return e.val[:0]
}

// store is the keyspace: a plain map, owned by the loop's goroutine like
// everything else, so it needs no lock.
type store struct {
	keys    map[string]*entry
	expires map[string]*entry // the keys that have a deadline, for the sweep
	start   time.Time
}

func newStore() *store {
	return &store{keys: map[string]*entry{}, expires: map[string]*entry{}, start: time.Now()}
}

// now reads the store's clock: monotonic nanoseconds since the store was
// made, so a change of the wall clock neither expires keys early nor keeps
// them late.
func (s *store) now() int64 { return int64(time.Since(s.start)) }

// get returns key's entry, or nil if it does not exist or has expired; an
// expired key is deleted on the way. The lookup converts key without
// allocating (the compiler's m[string(b)] optimisation).
func (s *store) get(key []byte) *entry {
	e := s.keys[string(key)]
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
	e = &entry{key: string(key), val: append([]byte(nil), val...)}
	s.keys[e.key] = e
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
	delete(s.keys, e.key)
	if e.expire != 0 {
		delete(s.expires, e.key)
	}
}

// flush empties the keyspace. Fresh maps give the memory of a large one
// back to the garbage collector, which clear would not.
func (s *store) flush() {
	s.keys = map[string]*entry{}
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
