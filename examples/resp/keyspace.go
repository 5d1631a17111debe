package main

import "hash/maphash"

// keyspace maps keys to their entries. It is a hash table of its own rather
// than a map[string]*entry because of what a lookup costs when the keyspace
// is larger than the cache, as under redis-benchmark -r 100000: between two
// requests the system calls and the rest of the work evict the table, so
// every memory access of a lookup is a miss, and each one waits for the one
// before. A Go map touches its directory, the table, the control word of a
// group, the slot, then the key; here a lookup touches one slot — the full
// hash and the entry's address, 16 bytes — and then the entry, which holds
// the key to compare and the value that GET reads and SET writes next. In
// the server's profile the map's lookup was the largest cost after the
// system calls: about 0.55 µs of a SET's 1.7 µs (see BenchmarkKeyspaceCold).
//
// It is an extendible hash: a directory, indexed by the top bits of a key's
// hash, of open-addressing tables with linear probing, indexed by the low
// bits. A table grows by doubling until it has maxSlots slots, then splits
// in two by the next bit of the hash, so that growing never moves more than
// one table's keys at once: no pause that grows with the keyspace. A table
// is at most three quarters full, so a probe always ends at an empty slot.
// Like a Go map, a table does not shrink when keys are deleted; flush makes
// a new keyspace.
//
// The hash is maphash's, with a seed chosen at random for each keyspace, so
// a client cannot pick keys that collide, as with a Go map.
type keyspace struct {
	seed     maphash.Seed
	dir      []*table // len(dir) == 1<<depth
	depth    uint     // the global depth: how many top bits of a hash index dir
	n        int      // keys in all
	maxSlots int      // a table's size at which it splits instead of growing
}

// slot is one place of a table: a key's hash and its entry, or empty.
type slot struct {
	hash  uint64
	entry *entry // nil: the slot is empty
}

// table is one open-addressing table of the directory. Every hash it holds
// has the same top depth bits; it takes len(dir)>>depth consecutive places
// of the directory.
type table struct {
	slots []slot // a power of two in length
	used  int
	depth uint // the local depth
}

const (
	// minSlots is the size of a new keyspace's one table.
	minSlots = 8
	// maxSlots is the size at which a table splits: 1 MiB of slots, so
	// growing moves at most 49,152 keys at once.
	maxSlots = 1 << 16
)

func newKeyspace() *keyspace { return newKeyspaceSized(maxSlots) }

// newKeyspaceSized is newKeyspace with tables that split at max slots, for
// tests that make many splits with few keys.
func newKeyspaceSized(max int) *keyspace {
	return &keyspace{
		seed:     maphash.MakeSeed(),
		dir:      []*table{{slots: make([]slot, minSlots)}},
		maxSlots: max,
	}
}

// len is the number of keys.
func (k *keyspace) len() int { return k.n }

// tableOf returns the table that holds hash h. A shift by 64, at depth 0,
// is 0 in Go.
func (k *keyspace) tableOf(h uint64) *table { return k.dir[h>>(64-k.depth)] }

// get returns key's entry, or nil. It does not allocate.
func (k *keyspace) get(key []byte) *entry {
	h := maphash.Bytes(k.seed, key)
	t := k.tableOf(h)
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.entry == nil {
			return nil
		}
		if s.hash == h && s.entry.key == string(key) {
			return s.entry
		}
	}
}

// prefetch reads the slot, then the entry, that a get of each key would
// read first, the slots of all keys before any entry, so that their cache
// misses overlap (see prefetch.go). ents is scratch for the entries, left
// cleared. It returns a sum of what it read, for the caller to keep, so
// that the compiler keeps the reads.
func (k *keyspace) prefetch(keys [][]byte, ents *[prefetchMax]*entry) uintptr {
	for i, key := range keys[:min(len(keys), prefetchMax)] {
		h := maphash.Bytes(k.seed, key)
		t := k.tableOf(h)
		ents[i] = t.slots[h&uint64(len(t.slots)-1)].entry
	}
	var sum uintptr
	for i, e := range ents[:min(len(keys), prefetchMax)] {
		if e != nil {
			// An entry spans two or three cache lines: its first
			// word, the first byte of its inline room (where a
			// small key starts) and its last byte are one in each.
			sum += uintptr(len(e.key)) + uintptr(e.inline[0]) + uintptr(e.inline[len(e.inline)-1])
			ents[i] = nil
		}
	}
	return sum
}

// insert adds e under e.key, which the keyspace must not hold yet.
func (k *keyspace) insert(e *entry) {
	h := maphash.String(k.seed, e.key)
	for {
		t := k.tableOf(h)
		if (t.used+1)*4 <= len(t.slots)*3 {
			t.put(h, e)
			k.n++
			return
		}
		k.grow(t, h)
	}
}

// remove deletes e, which the keyspace holds. The slots after it that
// probed past its place move back (backward-shift deletion), so no
// tombstone is left and probes stay as short as they were.
func (k *keyspace) remove(e *entry) {
	h := maphash.String(k.seed, e.key)
	t := k.tableOf(h)
	mask := uint64(len(t.slots) - 1)
	i := h & mask
	for t.slots[i].entry != e {
		if t.slots[i].entry == nil {
			return // not held: nothing to delete
		}
		i = (i + 1) & mask
	}
	for j := (i + 1) & mask; t.slots[j].entry != nil; j = (j + 1) & mask {
		// The slot at j may fill the hole at i unless its home lies
		// cyclically in (i, j]: then it would no longer be found.
		home := t.slots[j].hash & mask
		var stays bool
		if i < j {
			stays = i < home && home <= j
		} else {
			stays = i < home || home <= j
		}
		if !stays {
			t.slots[i] = t.slots[j]
			i = j
		}
	}
	t.slots[i] = slot{}
	t.used--
	k.n--
}

// put places h and e in the first empty slot of their probe.
func (t *table) put(h uint64, e *entry) {
	mask := uint64(len(t.slots) - 1)
	i := h & mask
	for t.slots[i].entry != nil {
		i = (i + 1) & mask
	}
	t.slots[i] = slot{h, e}
	t.used++
}

// grow makes room in t, which holds h's place: it doubles t, or, when t is
// at maxSlots, splits it in two by the next bit of the hash, doubling the
// directory first if t is the only table for its places.
func (k *keyspace) grow(t *table, h uint64) {
	if len(t.slots) < k.maxSlots || t.depth >= 63 {
		old := t.slots
		t.slots, t.used = make([]slot, 2*len(old)), 0
		for _, s := range old {
			if s.entry != nil {
				t.put(s.hash, s.entry)
			}
		}
		return
	}
	if t.depth == k.depth {
		dir := make([]*table, 2*len(k.dir))
		for i, x := range k.dir {
			dir[2*i], dir[2*i+1] = x, x
		}
		k.dir, k.depth = dir, k.depth+1
	}
	lo := &table{slots: make([]slot, len(t.slots)), depth: t.depth + 1}
	hi := &table{slots: make([]slot, len(t.slots)), depth: t.depth + 1}
	for _, s := range t.slots {
		if s.entry == nil {
			continue
		}
		if s.hash>>(63-t.depth)&1 == 0 {
			lo.put(s.hash, s.entry)
		} else {
			hi.put(s.hash, s.entry)
		}
	}
	// t's places in the directory: a run of n, the first half for lo.
	n := uint64(1) << (k.depth - t.depth)
	start := h >> (64 - k.depth) &^ (n - 1)
	for i := range n {
		if i < n/2 {
			k.dir[start+i] = lo
		} else {
			k.dir[start+i] = hi
		}
	}
}
