package tlsio

// recordHeaderLen is the length of a TLS record's header: type (1),
// version (2), body length (2).
const recordHeaderLen = 5

// framing follows the record boundaries of the ciphertext the transport
// hands tls.Conn. crypto/tls reads its transport only when it lacks a
// whole record, and buffers what it read beyond one; its buffer is not
// visible, so the transport counts what it can see instead: whether what
// it handed over ends at a record's end, and how many records it
// completed since the count was last reset (Conn.Read resets it whenever
// tls.Conn is known to hold no whole record).
type framing struct {
	hdrN     int // header bytes seen of the current record; 0 at a boundary
	body     int // body bytes of the current record still to come
	complete int // records completed since the last reset
}

// advance follows p, the next bytes of the stream.
func (f *framing) advance(p []byte) {
	for len(p) > 0 {
		if f.hdrN < recordHeaderLen {
			switch f.hdrN {
			case 3:
				f.body = int(p[0]) << 8
			case 4:
				f.body |= int(p[0])
			}
			p = p[1:]
			f.hdrN++
			if f.hdrN == recordHeaderLen && f.body == 0 {
				f.hdrN = 0
				f.complete++
			}
			continue
		}
		k := min(len(p), f.body)
		p = p[k:]
		f.body -= k
		if f.body == 0 {
			f.hdrN = 0
			f.complete++
		}
	}
}

// atBoundary reports whether the bytes followed so far end a record.
func (f *framing) atBoundary() bool { return f.hdrN == 0 }
