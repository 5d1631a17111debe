package loop_test

import (
	"fmt"
	"time"

	"github.com/asyncore-go/asyncore/loop"
)

// Timers run on the loop's goroutine, earliest deadline first, whatever
// order they were set in. Run returns as soon as the map is empty, so a loop
// that only has timers is driven with RunOnce.
func ExampleLoop_AfterFunc() {
	l, err := loop.New(loop.Options{Map: loop.NewMap()})
	if err != nil {
		panic(err)
	}
	defer l.Close()

	done := false
	l.AfterFunc(30*time.Millisecond, func() {
		fmt.Println("30ms: done")
		done = true
	})
	l.AfterFunc(10*time.Millisecond, func() { fmt.Println("10ms: first") })
	cancelled := l.AfterFunc(20*time.Millisecond, func() { fmt.Println("never runs") })
	fmt.Println("stopped:", cancelled.Stop())

	for !done {
		if err := l.RunOnce(-1); err != nil { // wait for the next timer
			panic(err)
		}
	}
	// Output:
	// stopped: true
	// 10ms: first
	// 30ms: done
}

// Every repeats until its timer is stopped; here the timer stops itself.
func ExampleLoop_Every() {
	l, err := loop.New(loop.Options{Map: loop.NewMap()})
	if err != nil {
		panic(err)
	}
	defer l.Close()

	ticks := 0
	var tick *loop.Timer
	tick = l.Every(5*time.Millisecond, func() {
		ticks++
		fmt.Println("tick", ticks)
		if ticks == 3 {
			tick.Stop()
		}
	})
	for ticks < 3 {
		if err := l.RunOnce(-1); err != nil {
			panic(err)
		}
	}
	// Output:
	// tick 1
	// tick 2
	// tick 3
}

// Post is how other goroutines talk to the loop: the function runs on the
// loop's goroutine, where it may touch channels and timers freely. Functions
// run exactly once, in the order they were posted.
func ExampleLoop_Post() {
	l, err := loop.New(loop.Options{Map: loop.NewMap()})
	if err != nil {
		panic(err)
	}
	defer l.Close()

	done := false // touched only on the loop's goroutine: no lock needed
	go func() {
		// A worker goroutine hands its results to the loop.
		for _, s := range []string{"one", "two", "three"} {
			_ = l.Post(func() { fmt.Println("loop got", s) })
		}
		_ = l.Post(func() { done = true })
	}()

	for !done {
		if err := l.RunOnce(-1); err != nil { // wakes up when something is posted
			panic(err)
		}
	}
	fmt.Println("worker finished")
	// Output:
	// loop got one
	// loop got two
	// loop got three
	// worker finished
}
