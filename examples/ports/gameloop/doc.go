// Package gameloop is a tested port of gameloop.py, in this folder: a
// server and its clients in one loop, driven the way a game drives its
// network, one asyncore.loop(timeout=0, count=1) per frame. See the package
// Example.
//
// The port is literal: loop.Run(loop.Options{Map: m, Timeout: 0, Count: 1})
// polls and returns at once, as asyncore's call does, and the moves queued by
// the frame code, outside any event, are seen because loop.Run asks every
// channel's Writable on every pass.
package gameloop
