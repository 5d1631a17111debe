package producer

// Producer is asynchat's producer: a source of output that AsyncChat draws
// from when the socket can take more. More returns the next chunk, or an
// empty (nil or zero-length) chunk when it is exhausted; it is not called
// again after that. A chunk must stay valid and unmodified until More is
// called again (the queue holds it until it has been written); More is not
// called again before the previous chunk has been fully written.
type Producer interface {
	More() []byte
}

// defaultSimpleSize is simple_producer's default buffer_size.
const defaultSimpleSize = 512

// Simple is asynchat's simple_producer: it hands out data in pieces of at
// most bufferSize bytes. The pieces are sub-slices of the data, not copies.
type Simple struct {
	data []byte
	size int
}

// SimpleProducer returns a Simple over data; bufferSize <= 0 means
// asynchat's default, 512. data must not be modified while the producer is
// in use.
func SimpleProducer(data []byte, bufferSize int) *Simple {
	if bufferSize <= 0 {
		bufferSize = defaultSimpleSize
	}
	return &Simple{data: data, size: bufferSize}
}

// More returns the next piece of at most bufferSize bytes, and an empty
// chunk once the data is used up: asynchat's simple_producer.more. With
// SimpleProducer([]byte("abcdefghij"), 4) it returns "abcd", "efgh", "ij",
// and then nil on every later call.
func (p *Simple) More() []byte {
	if len(p.data) > p.size {
		// The full slice expression keeps a caller's append from
		// overwriting the rest of the data.
		chunk := p.data[:p.size:p.size]
		p.data = p.data[p.size:]
		return chunk
	}
	chunk := p.data
	p.data = nil
	if len(chunk) == 0 {
		return nil
	}
	return chunk
}
