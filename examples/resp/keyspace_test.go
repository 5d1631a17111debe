package main

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestKeyspaceModel runs random inserts, lookups and deletes against a Go
// map, with tables that split at 16 slots so that a few thousand keys make
// hundreds of splits and directory doublings, and checks after each step
// that the keyspace holds exactly the map's keys.
func TestKeyspaceModel(t *testing.T) {
	for _, max := range []int{minSlots, 16, 64, maxSlots} {
		t.Run(fmt.Sprint(max), func(t *testing.T) {
			k := newKeyspaceSized(max)
			model := map[string]*entry{}
			r := rand.New(rand.NewPCG(uint64(max), 7))
			for step := range 40000 {
				key := []byte(fmt.Sprintf("k%d", r.IntN(3000)))
				e := k.get(key)
				if e != model[string(key)] {
					t.Fatalf("step %d: get(%q) = %p, want %p", step, key, e, model[string(key)])
				}
				switch {
				case e == nil && r.IntN(3) > 0:
					e = new(entry)
					e.setKey(key)
					k.insert(e)
					model[e.key] = e
				case e != nil && r.IntN(2) == 0:
					k.remove(e)
					delete(model, e.key)
				}
				if k.len() != len(model) {
					t.Fatalf("step %d: len %d, want %d", step, k.len(), len(model))
				}
			}
			for key, e := range model {
				if got := k.get([]byte(key)); got != e {
					t.Fatalf("get(%q) = %p, want %p", key, got, e)
				}
			}
			used := 0
			for i, tb := range k.dir {
				if i > 0 && k.dir[i-1] == tb {
					continue // a table takes consecutive places
				}
				used += tb.used
				if tb.used*4 > len(tb.slots)*3 {
					t.Errorf("table %d: %d of %d slots used", i, tb.used, len(tb.slots))
				}
			}
			if used != len(model) {
				t.Errorf("tables hold %d keys, want %d", used, len(model))
			}
		})
	}
}

// TestKeyspaceEmptyKey checks that the empty key, which Redis allows, is a
// key like any other.
func TestKeyspaceEmptyKey(t *testing.T) {
	k := newKeyspace()
	e := new(entry)
	e.setKey(nil)
	k.insert(e)
	if k.get([]byte{}) != e || k.get([]byte("x")) != nil {
		t.Fatal("the empty key is not found, or found for another")
	}
	k.remove(e)
	if k.get(nil) != nil || k.len() != 0 {
		t.Fatal("the empty key is still there")
	}
}

// BenchmarkKeyspaceCold looks up redis-benchmark's keys (100,000) the way
// the server does: with the cache emptied of the keyspace between lookups,
// here by writing 1 MiB every 16 lookups — what a pipelined batch's system
// calls and parsing do to it. "base" is the writing alone; what a lookup
// costs is the difference. The Go map of the same entries is there to
// compare.
func BenchmarkKeyspaceCold(b *testing.B) {
	keys := make([][]byte, benchKeys)
	k := newKeyspace()
	m := map[string]*entry{}
	r := rand.New(rand.NewPCG(1, 2))
	for _, i := range r.Perm(benchKeys) {
		keys[i] = []byte(benchKey(i))
		e := new(entry)
		e.setKey(keys[i])
		e.val = append(e.writable(len(benchValue)), benchValue...)
		k.insert(e)
		m[e.key] = e
	}
	order := make([]int, 1<<16)
	for i := range order {
		order[i] = r.IntN(benchKeys)
	}
	junk := make([]byte, 1<<20)
	var sink byte
	evict := func(i int) {
		if i%16 == 0 {
			for j := 0; j < len(junk); j += 64 {
				junk[j]++
			}
		}
	}
	run := func(b *testing.B, lookup func(key []byte) *entry) {
		i := 0
		for b.Loop() {
			if lookup != nil {
				sink += lookup(keys[order[i%len(order)]]).val[0]
			}
			evict(i)
			i++
		}
	}
	b.Run("base", func(b *testing.B) { run(b, nil) })
	b.Run("gomap", func(b *testing.B) { run(b, func(key []byte) *entry { return m[string(key)] }) })
	b.Run("keyspace", func(b *testing.B) { run(b, k.get) })
	_ = sink
}
