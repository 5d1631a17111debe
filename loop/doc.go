// Package loop is the reactor: asyncore's socket map and loop() in Go, plus
// what asyncore lacked — timers, Post from other goroutines, and Stop.
//
// # The socket map
//
// A Map holds the channels, keyed by file descriptor, exactly as asyncore's
// socket_map does; DefaultMap is the map that dispatchers join when they are
// given none. A Map is a table indexed by fd, so looking a channel up when an
// event arrives costs one slice index. Every registration gets a generation
// number that travels with the fd into the poller and back; an event whose
// generation no longer matches the table is dropped. Together with closing
// descriptors only after the event batch (see phase 3), this is what keeps a
// channel closed early in a batch from being called again, and a new channel
// that reused a closed fd's number from receiving its predecessor's events —
// the race asyncore never fixed (python/cpython#75114).
//
// The map knows channels and descriptors, nothing of what they are for: a
// listener's cap on connections (maxclients, in Redis's terms), the count
// it caps and the counters of accepted, refused, shed and timed-out
// connections are the dispatcher package's policy, kept there per map
// (dispatcher.SetMaxConns, dispatcher.Stats). Redis's event library, ae,
// knows nothing of maxclients either: the loop changes when the reactor
// does, not whenever the accept policy does. What the loop keeps is what it
// needs itself: the descriptors its backend can watch (Loop.FDLimit), its
// timers, posted functions and iteration counters (Stats).
//
// # Predicates
//
// A channel says what it wants through Interest, which a dispatcher computes
// from its Readable and Writable predicates. There are two rules for when
// it is asked.
//
// The package-level Run, asyncore.loop's port, asks every channel on every
// iteration, as asyncore does, so that a literal port works whatever its
// predicates read: state changed in a timer, a posted function or another
// channel's handler is seen at the next iteration. Options.ActiveOnly turns
// this off.
//
// A Loop made with New does not ask every channel every pass: that is
// O(all channels) per iteration and is why an asyncore server with many
// idle connections burns CPU. Instead a channel's Interest is asked again
//
//   - when it joins the map,
//   - after the loop has delivered events to it,
//   - when Map.Update is called for it — the library does so after every call
//     that changes a channel's state (connect, listen, a queued send), and
//     user code does so when a predicate changes for a reason the library
//     cannot see (a timer, a message from another channel),
//
// and the poller is told only about the differences. A predicate changed
// any other way is never seen: the channel waits forever for an event it
// did not ask for. Options.Strict restores asyncore's behaviour of asking
// every channel on every iteration, for code whose predicates depend on
// state the library cannot see and that would rather not call Update.
// Options.CheckInterest, or the environment variable ASYNCORE_DEBUG, finds
// the missing calls instead: every iteration it asks every predicate again,
// applies what changed, and logs "Writable changed without UpdateInterest"
// (or Readable) once per channel.
//
// # One iteration
//
// Run repeats one iteration until the map is empty, Stop is called, or
// Options.Count iterations have run. The phases, in the order the code in
// iteration.go and dispatch.go follows:
//
//  1. Apply interest: ask Interest of every channel marked since the last
//     pass (every channel in strict mode, and every channel with
//     CheckInterest) and apply the changes to the poller.
//     A channel the poller refuses receives HandleError. (Select's
//     FD_SETSIZE is checked earlier: Map.Add refuses such a descriptor
//     while a select loop serves the map; a channel added before the loop
//     existed meets it here.)
//  2. Wait: block in the poller until an fd is ready, for at most the
//     smaller of Options.Timeout and the time to the next timer, rounded up
//     to the millisecond; do not block at all when posted functions or a Stop
//     are waiting. A zero Timeout polls when Options.Count bounds the run,
//     as asyncore.loop(timeout=0, count=1) does; a run without a Count
//     waits without bound instead of spinning. EINTR is retried inside the
//     poller.
//  3. Dispatch: deliver each event to its channel's HandleEvents, after
//     checking that the channel is still registered under the same
//     generation. A panic in a handler is recovered and handed to that
//     channel's HandleError; the other channels go on being served.
//     Descriptors closed during this phase are closed for real only once the
//     whole batch has been dispatched, so their numbers cannot be reused
//     inside the batch.
//  4. Timers: run every timer whose deadline has passed, earliest first;
//     repeating timers are rescheduled.
//  5. Posted functions: run the functions other goroutines handed to Post,
//     each exactly once, in the order they were posted.
//
// The loop's clock, Now, is read once after phase 2 and once before phase 4,
// so handlers that stamp their progress with it (dispatcher timeouts) pay a
// field load, not a clock read.
//
// Every iteration is counted in Stats, with what it did (wake-ups, events,
// timers, posted functions, recovered panics), next to the bytes the
// dispatchers read and write, which they count in the same place. They are
// plain fields of the Map, so keeping them costs an add each; read them on
// the loop's goroutine. The connection counters are dispatcher.Stats.
//
// # Ending a loop
//
// Run returns when the map is empty, after Stop (from any goroutine), or
// once Count iterations have run. RunContext returns as well once its
// context is done, leaving the channels open. Shutdown ends a server
// gracefully: on the loop's goroutine it calls BeginShutdown on every
// channel that implements ShutdownHandler (listeners stop accepting,
// connections say goodbye and close once their output is written), lets
// the loop run until the map is empty or Shutdown's context is done, then
// closes whatever is left and makes Run return.
//
// # The map's loop
//
// A Map has its Loop from the start: Map.Loop makes one on first need,
// without a poller, so that code setting up channels can arm timers and
// Post before anything runs. The New or package-level Run that first runs
// the map opens that same loop with its options, backend included, and
// keeps the timers and functions queued on it.
//
// # The read buffer
//
// Each loop has one read buffer of ReadBufferSize (64 KiB) bytes, allocated
// the first time it is lent (BorrowReadBuffer). Channels read into it rather
// than into buffers of their own — dispatcher.DataHandler's HandleData and
// chat.AsyncChat do — so an idle connection holds no read buffer. The
// lifetime rule: what is read into it is valid until the handler that read
// it returns; copy what must outlive that. A borrow made while the buffer is
// lent, by a handler reading another channel from inside its own, gets a
// pooled buffer instead.
//
// Everything in a Loop, its Map and its channels belongs to the goroutine that
// calls Run, except Post and Stop (and Map.Loop and Map.Post, the way another
// goroutine reaches the loop serving a map), which any goroutine may call. To
// use more cores, run several loops with StartGroup, each on its own thread
// with its own Map.
package loop
