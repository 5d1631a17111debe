package main

import "bytes"

// Looking up the keys of a read's commands together.
//
// Under pipelining (redis-benchmark -P 16) one read brings many commands. A
// lookup in a keyspace larger than the cache misses twice, the slot and
// then the entry (see keyspace), and each command's lookup starts only when
// the one before it has finished, so a read of sixteen commands waits for
// some thirty misses one after another: a quarter of the server's CPU time
// in SET -P 16 before this was added. The chat lets a client see the whole
// read before its commands are framed (chat.InputPeeker); PeekInput finds
// the keys there and touches their slots, all of them, then their entries,
// so that the misses of the batch are outstanding together. The commands
// then find that memory in the cache.
//
// It changes nothing the commands see: a request it cannot parse ends the
// scan, a read that does not start at a request is skipped, and what it
// touches is only read.

// prefetchMax bounds the keys one read prefetches: enough for the deepest
// usual pipeline, few enough that the first entries are still cached when
// their commands run.
const prefetchMax = 32

// maxPeekArgs is the most arguments of a request the scan reads past; SET
// with its options has up to six.
const maxPeekArgs = 6

// PeekInput is chat.InputPeeker: it prefetches the keys of the requests in
// data when data starts at a request, as it does between requests.
func (c *client) PeekInput(data []byte) {
	if c.broken || c.state != stateCommand || len(c.buf) != 0 {
		return // in the middle of a request
	}
	s := c.srv
	if s.peeked == nil {
		s.peeked = make([][]byte, 0, prefetchMax)
	}
	s.peeked = peekKeys(data, s.peeked[:0])
	if len(s.peeked) > 1 { // a single command gains nothing
		s.prefetchSum += s.db.keys.prefetch(s.peeked, &s.prefetched)
	}
	clear(s.peeked) // they point into the read buffer
}

// peekKeys appends to keys, up to its capacity, the second argument — the
// key, for the commands that have one — of each "*N" request at the start
// of data, as long as the requests parse; a request cut off at the end of
// data gives its key if the key is whole. The scan ends after a request of
// more than maxPeekArgs arguments: skipping its arguments would cost as
// much as parsing them, for one key of many.
func peekKeys(data []byte, keys [][]byte) [][]byte {
	for len(keys) < cap(keys) {
		n, rest, ok := peekHeader(data, '*')
		if !ok || n < 1 {
			return keys
		}
		long := n > maxPeekArgs
		if long {
			n = 2 // the command and its key, then the end of the scan
		}
		data = rest
		for i := int64(0); i < n; i++ {
			l, rest, ok := peekHeader(data, '$')
			if !ok || l < 0 || l > int64(len(rest))-2 {
				return keys
			}
			if i == 1 {
				keys = append(keys, rest[:l:l])
			}
			data = rest[l+2:]
		}
		if long {
			return keys
		}
	}
	return keys
}

// peekHeader parses a "*N" or "$N" line (kind is '*' or '$') at the start
// of data and returns N and what follows the line.
func peekHeader(data []byte, kind byte) (int64, []byte, bool) {
	if len(data) < 4 || data[0] != kind {
		return 0, nil, false
	}
	i := bytes.IndexByte(data[:min(len(data), 24)], '\n')
	if i < 2 || data[i-1] != '\r' {
		return 0, nil, false
	}
	n, ok := parseInt(data[1 : i-1])
	return n, data[i+1:], ok
}
