// Package producer holds asynchat's output side: producers, which supply
// data a chunk at a time, and FIFO, the queue an AsyncChat channel (and a
// dispatcher.DispatcherWithSend) drains when its socket can take more.
//
// # Producers
//
// A Producer is anything with a More method, as in asynchat. SimpleProducer
// serves a byte slice in pieces (asynchat's simple_producer); ReaderProducer
// and FileProducer serve an io.Reader or a file one buffer at a time, so a
// large file is never read into memory at once. FileProducer serves only
// regular files: it opens without blocking and refuses a FIFO, a device or
// a directory with ErrNotRegular, since reading one could block the loop.
// Chunks are never copied on
// their way to the socket: the queue holds the chunk a producer returned
// until the socket has taken all of it, and only then asks for the next one.
// That is why a producer may reuse one buffer for every chunk.
//
// More is called on the loop's goroutine, so a producer must not block for
// long: readers over files and memory are fine, a reader over a pipe or a
// network connection is not.
//
// # The FIFO
//
// FIFO is asynchat's producer_fifo. It holds, in order, bytes pushed with
// Push, producers, and close-when-done markers. The owner writes from it in
// two steps, so one writev(2) can carry several queued items:
//
//	bufs = q.Gather(bufs, 65536, 16) // what is at the head, without copying
//	n, err := unix.Writev(fd, bufs)  // the socket takes some of it
//	q.Consume(n)                     // drop what was written
//
// Pushed bytes are copied into buffers the queue takes from pools all
// queues share; consecutive pushes fill one buffer and then the next, and
// written buffers go back to the pools, so a connection that pushes and
// writes replies allocates nothing once the loop has warmed up. The queue's
// small item arrays go back to a shared pool too, so an idle connection's
// empty queue holds nothing but its struct.
//
// # Differences from asynchat
//
//   - Push does not split data into ac_out_buffer_size pieces; Gather's
//     byte limit bounds each write instead. Pushing an empty slice does
//     nothing, where asynchat queues an empty bytes object and then makes a
//     zero-length send.
//   - A producer that returns an empty chunk is removed and gathering goes on
//     with the next item. asynchat drops such a producer too (C14), but it
//     also has a bug in which a producer object that tests false (its
//     __len__ returns 0) is removed twice, silently dropping the item after
//     it; there is no such case here.
//   - Gather never passes a close marker. What was queued behind one stays
//     queued, as in asynchat, where the close happens when the marker reaches
//     the head and later pushes are never sent.
//   - Len counts the bytes the queue holds in memory, so that an owner can
//     apply a high-water mark (docs/failure-modes.md#f10-unbounded-output);
//     asynchat has no such count.
//
// Neither producers nor FIFO are safe for concurrent use; like the rest of
// asyncore, they belong to the goroutine that runs the loop.
package producer
