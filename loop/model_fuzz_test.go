package loop

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/poller"
	"golang.org/x/sys/unix"
)

// FuzzLoopModel drives a real Loop over real descriptors with a script of
// operations and checks it against a model: which channels the map holds,
// and what each channel may be told (F4 stale-event to F7 map-change-in-batch,
// docs/failure-modes.md).
//
// The script's first byte picks the backend (and strict mode); each later
// pair of bytes is an operation and its argument. Operations open channels
// on socketpairs, pipes and /dev/null, close them, take them out of the map
// without closing them, change their interest, make them readable or hang up
// their peer, post functions, start timers, run one iteration, and close a
// channel and put a new socket on its very number. Handlers, posted
// functions and timers run actions of their own — closing other channels,
// reusing their descriptor numbers in the middle of a batch, panicking — so
// the map changes while a batch is being dispatched.
//
// The invariants:
//   - no Interest, HandleEvents or HandleError reaches a channel after it
//     left the map, whether closed, taken out or replaced;
//   - Close runs exactly once for every channel that is closed, and never
//     for one that was replaced;
//   - a channel registered during an iteration gets no event in that
//     iteration, and a read event always finds something to read: an event
//     meant for a closed descriptor never reaches the channel that now has
//     its number;
//   - a channel is told only about what its last Interest asked for;
//   - the map holds exactly the channels the model says, and a descriptor
//     taken out of the map is not watched by the poller;
//   - every posted function runs once and in order, every due timer fires;
//   - when everything is closed, no descriptor is left open.
func FuzzLoopModel(f *testing.F) {
	for _, seed := range fuzzLoopSeeds {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, script []byte) {
		if len(script) == 0 {
			return
		}
		kinds := poller.Available()
		kind := kinds[int(script[0])%len(kinds)]
		strict := script[0]/16%2 == 1
		script = script[1:min(len(script), 1+2*fuzzMaxOps)]

		before := testutil.OpenFDs()
		h := newFuzzLoop(t, kind, strict)
		func() {
			defer h.shutdown()
			for i := 0; i+1 < len(script); i += 2 {
				h.op(script[i], script[i+1])
				h.verify(fmt.Sprintf("op %d (%#x %#x)", i/2, script[i], script[i+1]))
			}
			h.run()
			h.verify("final iteration")
		}()
		for _, c := range h.all {
			want := 1
			if c.state == chanReplaced {
				want = 0
			}
			if c.closes != want {
				t.Errorf("%v: Close ran %d times, want %d", c, c.closes, want)
			}
		}
		if h.m.Len() != 0 {
			t.Errorf("map holds %d channels after everything was closed", h.m.Len())
		}
		if after := testutil.OpenFDs(); before >= 0 && after != before {
			t.Errorf("descriptor leak: %d open before, %d after", before, after)
		}
	})
}

// Bounds on the work one input can cause.
const (
	fuzzMaxOps      = 256
	fuzzMaxChannels = 64
	fuzzSlots       = 8
)

// fuzzLoopSeeds are scripts that reach the interesting cases at once; the
// files under testdata/fuzz/FuzzLoopModel hold the same scripts.
var fuzzLoopSeeds = [][]byte{
	// Two readable channels; whichever runs first reuses the other's
	// number for a new socket in the middle of the batch (F4 stale-event).
	{0, opOpen, seedRead(0), opOpen, seedRead(1), opPoke, 0, opPoke, 1, seedArm(1), seedAct(actReuse, 0), seedArm(0), seedAct(actReuse, 1), opRun, 0, opRun, 0},
	// The same on poll and select.
	{1, opOpen, seedRead(0), opOpen, seedRead(1), opPoke, 0, opPoke, 1, seedArm(1), seedAct(actReuse, 0), seedArm(0), seedAct(actReuse, 1), opRun, 0, opRun, 0},
	{2, opOpen, seedRead(0), opOpen, seedRead(1), opPoke, 0, opPoke, 1, seedArm(1), seedAct(actReuse, 0), seedArm(0), seedAct(actReuse, 1), opRun, 0, opRun, 0},
	// The handler that runs first replaces the other channel under the
	// same descriptor: the generation guard alone (F4 stale-event).
	{0, opOpen, seedRead(0), opOpen, seedRead(1), opPoke, 0, opPoke, 1, seedArm(1), seedAct(actReplace, 0), seedArm(0), seedAct(actReplace, 1), opRun, 0, opRun, 0},
	{2, opOpen, seedRead(0), opOpen, seedRead(1), opPoke, 0, opPoke, 1, seedArm(1), seedAct(actReplace, 0), seedArm(0), seedAct(actReplace, 1), opRun, 0, opRun, 0},
	// Mass close inside a handler, then a new channel in the same batch
	// (F7 map-change-in-batch).
	{0, opOpen, seedRead(0), opOpen, seedRead(1), opOpen, seedRead(2), opOpen, seedRead(3), opPoke, 0, opPoke, 1, opPoke, 2, opPoke, 3,
		seedArm(1), seedAct(actClose, 0), seedArm(2), seedAct(actClose, 1), seedArm(3), seedAct(actCloseBoth, 2), seedArm(5), seedAct(actOpen, 3), opRun, 0, opRun, 0},
	// Read and write wanted, the read closes (F6 double-close), then EOF closes
	// another.
	{1, opOpen, seedBoth(0), opOpen, seedBoth(1), opPoke, 0, opHangup, 1, seedArm(0), seedAct(actClose, 0), opRun, 0, opRun, 0},
	// A handler panics, and so does its HandleError: the loop closes it.
	{0, opOpen, seedRead(0), opPoke, 0, seedArm(0), seedAct(actPanicTwice, 0), opRun, 0, opOpen, seedRead(1), opPoke, 1, seedArm(1), seedAct(actPanic, 1), opRun, 0, opRun, 0},
	// Interest panics; the channel is taken out and its number reused
	// outside the loop; strict mode on select.
	{0x11, opOpen, seedRead(0), opOpen, seedRead(1), seedArm(0), seedAct(actPanicInterest, 1), opPoke, 1, opRun, 0, opInterest, 2 << 3, opRun, 0,
		opDetach, 0, opOpen, seedRead(2), opReuse, 2, opPoke, 2, opRun, 0},
	// Posted functions and timers that close, reuse and open channels.
	{0, opOpen, seedRead(0), opOpen, seedWrite(1), opPost, seedAct(actReuse, 0), opTimer, seedAct(actClose, 1), opPostGo, seedAct(actOpen, 2), opLongTimer, 0, opRun, 0, opPoke, 2, opRun, 0},
	// A pipe and /dev/null, which epoll cannot watch and reports ready.
	{0, opOpen, 1<<6 | seedRead(0), opOpen, 2<<6 | seedRead(1), opOpen, 2<<6 | seedWrite(2), opPoke, 0, opRun, 0, opReuse, 2, opReplace, 0, opRun, 0, opHangup, 0, opRun, 0},
}

// seedArm is opArm with the action's target slot; the argument names the
// slot to arm and the action.
func seedArm(target byte) byte { return opArm | target<<4 }

// seedRead, seedWrite and seedBoth are opOpen's argument for a socketpair
// in a slot that wants to read, write, or both.
func seedRead(slot byte) byte  { return 1<<3 | slot }
func seedWrite(slot byte) byte { return 2<<3 | slot }
func seedBoth(slot byte) byte  { return 3<<3 | slot }

// seedAct encodes an action and its target slot as an operation's argument.
func seedAct(kind, target byte) byte { return kind<<3 | target }

// The operations of a script, in an operation byte's low four bits; the
// argument's low three bits name a slot.
const (
	opOpen      = iota // open a channel in a slot: bits 3–4 interest, 6–7 descriptor type
	opClose            // close a slot's channel
	opDetach           // take a slot's channel out of the map, keep its descriptor
	opInterest         // change a slot's interest (bits 3–4) and Update it
	opPoke             // make a slot's channel readable
	opHangup           // close a slot's peer: EOF
	opArm              // arm a slot's next HandleEvents with an action (bits 3–7) on the slot in bits 4–6 of the operation
	opPost             // Post an action
	opPostGo           // Post an action from another goroutine
	opTimer            // an action on a timer due at once
	opRun              // RunOnce(0)
	opReuse            // close a slot's descriptor and put a new socket on its number
	opReplace          // replace a slot's channel with a new one on the same descriptor
	opUpdate           // Map.Update with nothing changed
	opLongTimer        // a timer that never comes due
	opPokeRun          // make a slot's channel readable and RunOnce(0)
	opCount
)

// The actions that handlers, posted functions and timers run.
const (
	actClose         = iota // close the target
	actReuse                // close the target at once and put a new socket on its number
	actReplace              // replace the target with a new channel on the same descriptor
	actOpen                 // open a channel in the target's slot (poke it if taken)
	actInterest             // flip the target's interest and Update it
	actPoke                 // make the target readable
	actHangup               // close the target's peer
	actPanic                // panic (in a handler: HandleError receives it)
	actPanicTwice           // panic, and panic again in HandleError
	actCloseBoth            // close the target and oneself
	actPanicInterest        // make the target's next Interest panic
	actCount
)

type chanState uint8

const (
	chanOpen     chanState = iota // in the map under fd
	chanDetached                  // out of the map; the descriptor is still ours
	chanReplaced                  // out of the map; its descriptor went to another channel
	chanClosed                    // closed
)

// fuzzLoop is the harness: the real loop, and the model it is checked
// against.
type fuzzLoop struct {
	t     *testing.T
	l     *Loop
	m     *Map
	slots [fuzzSlots]*fuzzChan // the channels in the map, by slot
	all   []*fuzzChan          // every channel ever made
	bad   []string             // invariant violations seen inside callbacks

	runs  uint64 // RunOnce calls started
	inRun bool

	posted, ran     int // functions posted, and run
	timers, fired   int // timers due at once, and fired
	longFired       bool
	longTimers      []*Timer
	buf             [256]byte
	interestToggled int
}

// fuzzChan is a Channel that checks what the loop does to it.
type fuzzChan struct {
	h          *fuzzLoop
	id         int
	fd, peer   int // peer is -1 once closed, or for /dev/null
	state      chanState
	born       uint64 // h.runs when it was registered
	bornInRun  bool   // registered while an iteration ran
	want       poller.Events
	asked      poller.Events // what the last Interest returned
	armed      *fuzzAct      // an action for the next HandleEvents
	panicNext  bool          // the next Interest panics
	panicked   bool          // HandleEvents panicked on purpose
	panicAgain bool          // HandleError panics too
	closes     int
}

type fuzzAct struct{ kind, target byte }

func newFuzzLoop(t *testing.T, kind poller.Kind, strict bool) *fuzzLoop {
	m := NewMap()
	l, err := New(Options{Map: m, Backend: kind, Strict: strict, Timeout: time.Millisecond})
	if err != nil {
		t.Fatalf("New(%v): %v", kind, err)
	}
	return &fuzzLoop{t: t, l: l, m: m}
}

func (c *fuzzChan) String() string {
	return fmt.Sprintf("channel %d (fd %d, state %d)", c.id, c.fd, c.state)
}

func (h *fuzzLoop) violation(format string, args ...any) {
	h.bad = append(h.bad, fmt.Sprintf(format, args...))
}

// op runs one operation of the script.
func (h *fuzzLoop) op(code, arg byte) {
	slot := int(arg % fuzzSlots)
	c := h.slots[slot]
	switch code % opCount {
	case opOpen:
		if c == nil {
			h.open(slot, poller.Events(arg>>3)&(poller.Read|poller.Write), int(arg>>6))
		}
	case opClose:
		if c != nil {
			_ = c.Close()
		}
	case opDetach:
		if c != nil {
			h.detach(c)
		}
	case opInterest:
		if c != nil {
			c.want = poller.Events(arg>>3) & (poller.Read | poller.Write)
			h.m.Update(c.fd)
		}
	case opPoke:
		h.poke(c)
	case opHangup:
		h.hangup(c)
	case opArm:
		if c != nil {
			c.armed = &fuzzAct{kind: arg >> 3, target: code >> 4 % fuzzSlots}
		}
	case opPost:
		h.post(fuzzAct{kind: arg >> 3, target: arg % fuzzSlots})
	case opPostGo:
		done := make(chan struct{})
		go func() {
			defer close(done)
			h.post(fuzzAct{kind: arg >> 3, target: arg % fuzzSlots})
		}()
		<-done
	case opTimer:
		a := fuzzAct{kind: arg >> 3, target: arg % fuzzSlots}
		h.timers++
		h.l.AfterFunc(0, func() {
			h.fired++
			h.do(a, nil)
		})
	case opRun:
		h.run()
	case opReuse:
		if c != nil {
			h.reuse(c)
		}
	case opReplace:
		if c != nil {
			h.replace(c)
		}
	case opUpdate:
		if c != nil {
			h.m.Update(c.fd)
		}
	case opLongTimer:
		if len(h.longTimers) < 4 {
			h.longTimers = append(h.longTimers, h.l.AfterFunc(time.Hour, func() { h.longFired = true }))
		} else {
			h.longTimers[arg%4].Stop()
		}
	case opPokeRun:
		h.poke(c)
		h.run()
	}
}

// post hands an action to Post and counts it; the function checks that it
// runs in order.
func (h *fuzzLoop) post(a fuzzAct) {
	seq := h.posted + 1
	h.posted++
	err := h.l.Post(func() {
		h.ran++
		if h.ran != seq {
			h.violation("posted function %d ran as number %d", seq, h.ran)
		}
		h.do(a, nil)
	})
	if err != nil {
		h.violation("Post: %v", err)
	}
}

// run is one iteration that does not block, followed by the checks only an
// iteration's end allows.
func (h *fuzzLoop) run() {
	h.runs++
	h.inRun = true
	err := h.l.RunOnce(0)
	h.inRun = false
	if err != nil {
		h.violation("RunOnce: %v", err)
	}
	if h.ran != h.posted {
		h.violation("%d functions posted before the iteration, %d ran", h.posted, h.ran)
	}
	if h.fired != h.timers {
		h.violation("%d timers due, %d fired", h.timers, h.fired)
	}
	if h.longFired {
		h.violation("a timer an hour away fired")
	}
}

// verify compares the map with the model and reports what the callbacks
// saw.
func (h *fuzzLoop) verify(where string) {
	h.t.Helper()
	n := 0
	for slot, c := range h.slots {
		if c == nil {
			continue
		}
		n++
		if c.state != chanOpen {
			h.violation("slot %d holds %v", slot, c)
		}
		if got := h.m.Get(c.fd); got != Channel(c) {
			h.violation("map has %v under fd %d, model has %v", got, c.fd, c)
		}
	}
	if h.m.Len() != n {
		h.violation("map holds %d channels, model %d", h.m.Len(), n)
	}
	for _, c := range h.all {
		if c.state == chanDetached && h.l.p.Modify(c.fd, poller.Read, 0) == nil {
			h.violation("%v is out of the map but still watched by the poller", c)
		}
	}
	if len(h.bad) > 0 {
		h.t.Fatalf("after %s: %v", where, h.bad)
	}
}

// shutdown closes every channel and descriptor, then the loop.
func (h *fuzzLoop) shutdown() {
	for _, c := range h.all {
		if c.state == chanOpen || c.state == chanDetached {
			_ = c.Close()
		}
		if c.peer >= 0 {
			_ = unix.Close(c.peer)
			c.peer = -1
		}
	}
	_ = h.l.Close()
}

// fuzzFDs returns a descriptor for a channel and its peer: a socketpair
// (typ 0 and 3), a pipe's read end (1) or /dev/null, which has no peer
// (2). Both are non-blocking and close-on-exec.
func fuzzFDs(typ int) (fd, peer int, err error) {
	var p [2]int
	switch typ {
	case 1:
		err = unix.Pipe(p[:])
	case 2:
		fd, err = unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
		return fd, -1, err
	default:
		p, err = unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	}
	if err != nil {
		return -1, -1, err
	}
	for _, fd := range p {
		unix.CloseOnExec(fd)
		if err := unix.SetNonblock(fd, true); err != nil {
			_ = unix.Close(p[0])
			_ = unix.Close(p[1])
			return -1, -1, err
		}
	}
	if typ == 1 {
		return p[0], p[1], nil // read end for the channel, write end to poke
	}
	return p[0], p[1], nil
}

// register makes a channel for fd and peer and adds it to the map in slot.
func (h *fuzzLoop) register(slot, fd, peer int, want poller.Events) *fuzzChan {
	c := &fuzzChan{h: h, id: len(h.all), fd: fd, peer: peer, want: want, born: h.runs, bornInRun: h.inRun}
	h.all = append(h.all, c)
	h.slots[slot] = c
	if err := h.m.Add(fd, c); err != nil {
		h.violation("Add(%d): %v", fd, err)
	}
	return c
}

// open makes a new channel in an empty slot.
func (h *fuzzLoop) open(slot int, want poller.Events, typ int) {
	if len(h.all) >= fuzzMaxChannels {
		return
	}
	fd, peer, err := fuzzFDs(typ)
	if err != nil {
		h.violation("open: %v", err)
		return
	}
	h.register(slot, fd, peer, want)
}

// slotOf returns c's slot, or -1.
func (h *fuzzLoop) slotOf(c *fuzzChan) int {
	for i, s := range h.slots {
		if s == c {
			return i
		}
	}
	return -1
}

// detach takes c out of the map and keeps its descriptor open.
func (h *fuzzLoop) detach(c *fuzzChan) {
	if !h.m.Remove(c.fd, c) {
		h.violation("Remove of %v found it missing", c)
	}
	c.state = chanDetached
	h.slots[h.slotOf(c)] = nil
}

// replace takes c out of the map and registers a new channel under the same
// descriptor, which now belongs to it along with c's peer.
func (h *fuzzLoop) replace(c *fuzzChan) {
	slot := h.slotOf(c)
	if !h.m.Remove(c.fd, c) {
		h.violation("Remove of %v found it missing", c)
	}
	c.state = chanReplaced
	h.slots[slot] = nil
	peer := c.peer
	c.peer = -1
	h.register(slot, c.fd, peer, c.want)
}

// reuse closes c's descriptor at once — not deferred, even in the middle of
// a batch — and registers a new socket under the very same number.
func (h *fuzzLoop) reuse(c *fuzzChan) {
	if len(h.all) >= fuzzMaxChannels {
		_ = c.Close()
		return
	}
	slot, num := h.slotOf(c), c.fd
	if !h.m.Remove(num, c) {
		h.violation("Remove of %v found it missing", c)
	}
	c.closes++
	c.state = chanClosed
	h.slots[slot] = nil
	if err := unix.Close(num); err != nil {
		h.violation("close(%d): %v", num, err)
	}
	if c.peer >= 0 {
		_ = unix.Close(c.peer)
		c.peer = -1
	}
	fd, peer, err := fuzzFDs(0)
	if err != nil {
		h.violation("socketpair: %v", err)
		return
	}
	switch num {
	case fd:
	case peer:
		fd, peer = peer, fd
	default:
		if err := unix.Dup2(fd, num); err != nil {
			h.violation("dup2: %v", err)
		}
		unix.CloseOnExec(num)
		_ = unix.Close(fd)
		fd = num
	}
	h.register(slot, fd, peer, c.want)
}

func (h *fuzzLoop) poke(c *fuzzChan) {
	if c == nil || c.peer < 0 {
		return
	}
	_, _ = unix.Write(c.peer, []byte{'x'}) // EAGAIN on a full pipe is fine
}

func (h *fuzzLoop) hangup(c *fuzzChan) {
	if c == nil || c.peer < 0 {
		return
	}
	_ = unix.Close(c.peer)
	c.peer = -1
}

// do runs an action for self (nil in posted functions and timers).
func (h *fuzzLoop) do(a fuzzAct, self *fuzzChan) {
	slot := int(a.target)
	c := h.slots[slot]
	switch a.kind % actCount {
	case actClose:
		if c != nil {
			_ = c.Close()
		}
	case actReuse:
		if c != nil {
			h.reuse(c)
		}
	case actReplace:
		if c != nil {
			h.replace(c)
		}
	case actOpen:
		if c == nil {
			h.open(slot, poller.Read, 0)
		} else {
			h.poke(c)
		}
	case actInterest:
		if c != nil {
			h.interestToggled++
			c.want = poller.Events(h.interestToggled) & (poller.Read | poller.Write)
			h.m.Update(c.fd)
		}
	case actPoke:
		h.poke(c)
	case actHangup:
		h.hangup(c)
	case actPanic, actPanicTwice:
		if self != nil {
			self.panicked = true
			self.panicAgain = a.kind%actCount == actPanicTwice
		}
		panic("fuzz: handler panics")
	case actCloseBoth:
		if c != nil {
			_ = c.Close()
		}
		if self != nil && self.state == chanOpen {
			_ = self.Close()
		}
	case actPanicInterest:
		if c != nil {
			c.panicNext = true
			h.m.Update(c.fd)
		}
	}
}

// Interest is asked only of channels in the map.
func (c *fuzzChan) Interest() poller.Events {
	if c.state != chanOpen {
		c.h.violation("Interest of %v", c)
	}
	if c.panicNext {
		c.panicNext = false
		c.panicked = true
		panic("fuzz: Interest panics")
	}
	c.asked = c.want
	return c.want
}

// HandleEvents checks that the event is due to this channel, reads what
// there is, runs the armed action, and closes at EOF.
func (c *fuzzChan) HandleEvents(ev poller.Events) {
	h := c.h
	if c.state != chanOpen {
		h.violation("HandleEvents(%v) of %v", ev, c)
		return
	}
	if c.bornInRun && c.born == h.runs {
		h.violation("%v got %v in the iteration it was registered in", c, ev)
	}
	if extra := ev & (poller.Read | poller.Write) &^ c.asked; extra != 0 {
		h.violation("%v got %v, asked for %v", c, ev, c.asked)
	}
	eof := false
	if ev&poller.Read != 0 {
		for i := 0; ; i++ {
			n, err := unix.Read(c.fd, h.buf[:])
			if errors.Is(err, unix.EAGAIN) {
				if i == 0 {
					h.violation("%v got %v with nothing to read: a stale event", c, ev)
				}
				break
			}
			if err != nil || n == 0 {
				eof = true
				break
			}
		}
	}
	if a := c.armed; a != nil {
		c.armed = nil
		h.do(*a, c)
	}
	if eof && c.state == chanOpen {
		_ = c.Close()
	}
}

// HandleError expects only the panics the script asked for.
func (c *fuzzChan) HandleError(err error) {
	h := c.h
	if c.state != chanOpen {
		h.violation("HandleError(%v) of %v", err, c)
		return
	}
	var pe *PanicError
	if !c.panicked || !errors.As(err, &pe) {
		h.violation("%v: unexpected HandleError(%v)", c, err)
	}
	c.panicked = false
	if c.panicAgain {
		c.panicAgain = false
		panic("fuzz: HandleError panics")
	}
}

// Close leaves the map and closes the descriptor (deferred by the map
// during a batch) and the peer.
func (c *fuzzChan) Close() error {
	h := c.h
	c.closes++
	switch c.state {
	case chanOpen:
		if !h.m.Remove(c.fd, c) {
			h.violation("Close: %v not in the map", c)
		}
		if slot := h.slotOf(c); slot >= 0 {
			h.slots[slot] = nil
		} else {
			h.violation("Close: %v in no slot", c)
		}
		_ = h.m.CloseFD(c.fd)
	case chanDetached:
		_ = h.m.CloseFD(c.fd)
	default:
		h.violation("Close of %v", c)
		return nil
	}
	c.state = chanClosed
	if c.peer >= 0 {
		_ = unix.Close(c.peer)
		c.peer = -1
	}
	return nil
}
