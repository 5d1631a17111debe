package main

import (
	"bytes"
	"strings"
	"testing"
	"unsafe"
)

// TestPeekKeys: the key of each whole request at the start of the input, up
// to the scratch's capacity; the scan ends at what does not parse.
func TestPeekKeys(t *testing.T) {
	set := "*3\r\n$3\r\nSET\r\n$8\r\nkey:0001\r\n$3\r\nxxx\r\n"
	get := "*2\r\n$3\r\nGET\r\n$8\r\nkey:0002\r\n"
	for _, c := range []struct {
		name, in string
		want     []string
	}{
		{"pipelined", set + get + strings.Repeat(get, 2), []string{"key:0001", "key:0002", "key:0002", "key:0002"}},
		{"cut in the value", set[:len(set)-4], []string{"key:0001"}},
		{"cut in the key", get[:len(get)-4], nil},
		{"no key", "*1\r\n$4\r\nPING\r\n" + get, []string{"key:0002"}},
		{"inline", "PING\r\n" + get, nil},
		{"empty array", "*0\r\n" + get, nil},
		{"bad length", "*2\r\n$-1\r\n" + get, nil},
		{"missing CR", "*2\n$3\r\nGET\r\n", nil},
		{"huge count", "*9223372036854775807\r\n$3\r\nGET\r\n$1\r\nk\r\n", []string{"k"}},
		{"many arguments end the scan", "*7\r\n$4\r\nMSET\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n3\r\n" + get, []string{"a"}},
		{"SET with options", "*6\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n$2\r\nEX\r\n$2\r\n10\r\n$2\r\nNX\r\n" + get, []string{"a", "key:0002"}},
		{"huge length", "*2\r\n$3\r\nGET\r\n$9223372036854775807\r\nk\r\n", nil},
		{"long header line", "*2" + strings.Repeat("0", 30) + "\r\n", nil},
		{"empty", "", nil},
	} {
		got := peekKeys([]byte(c.in), make([][]byte, 0, prefetchMax))
		var s []string
		for _, k := range got {
			s = append(s, string(k))
		}
		if strings.Join(s, ",") != strings.Join(c.want, ",") {
			t.Errorf("%s: keys %q, want %q", c.name, s, c.want)
		}
	}
	many := []byte(strings.Repeat(get, 2*prefetchMax))
	if n := len(peekKeys(many, make([][]byte, 0, prefetchMax))); n != prefetchMax {
		t.Errorf("%d keys from %d requests, want the capacity, %d", n, 2*prefetchMax, prefetchMax)
	}
}

// FuzzPeekKeys: any input is scanned without a panic, and every key found
// lies within it.
func FuzzPeekKeys(f *testing.F) {
	f.Add([]byte("*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n"))
	f.Add([]byte("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*2\r\n$3\r\nGET\r\n$1\r\nk"))
	f.Add([]byte("*-1\r\n*2\r\n$0\r\n\r\n$0\r\n\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		base := uintptr(unsafe.Pointer(unsafe.SliceData(in)))
		for _, k := range peekKeys(in, make([][]byte, 0, prefetchMax)) {
			p := uintptr(unsafe.Pointer(unsafe.SliceData(k)))
			if len(k) > 0 && (p < base || p+uintptr(len(k)) > base+uintptr(len(in))) {
				t.Fatalf("key %q outside the input", k)
			}
			if cap(k) != len(k) {
				t.Fatalf("key %q can be appended to in place", k)
			}
		}
	})
}

// TestKeyspacePrefetch: prefetching reads the entries of keys held and
// changes nothing: the keyspace holds the same keys after it, and the
// scratch is left cleared.
func TestKeyspacePrefetch(t *testing.T) {
	k := newKeyspaceSized(16)
	var keys [][]byte
	for i := range 100 {
		e := new(entry)
		e.setKey([]byte(strings.Repeat("k", i%7+1) + string(rune('a'+i%26)) + string(rune('a'+i/26))))
		k.insert(e)
		keys = append(keys, []byte(e.key))
	}
	var ents [prefetchMax]*entry
	sum := k.prefetch(append(keys[:prefetchMax:prefetchMax], []byte("absent")), &ents)
	if sum == 0 {
		t.Error("prefetch read nothing")
	}
	for i, e := range ents {
		if e != nil {
			t.Fatalf("scratch entry %d left set", i)
		}
	}
	for _, key := range keys {
		if e := k.get(key); e == nil || !bytes.Equal([]byte(e.key), key) {
			t.Fatalf("get(%q) = %v after prefetch", key, e)
		}
	}
	if k.len() != 100 {
		t.Errorf("%d keys after prefetch, want 100", k.len())
	}
}
