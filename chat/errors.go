package chat

// Errors that reach HandleError when a peer goes past a limit or a
// timeout. They are peer-caused: each has a PeerCaused method returning
// true, which errors.As finds through any wrapping (dispatcher.IsPeerCaused
// asks exactly that), so a handler — the default one included — can log
// them quietly: a flood of them is the peer's doing, not a bug.
var (
	// ErrLineTooLong: more than MaxLine bytes arrived without the delimiter.
	ErrLineTooLong error = &peerError{"chat: line too long: no delimiter within MaxLine bytes"}
	// ErrMessageTooLarge: a length terminator above MaxMessage was set, or
	// the default collector would hold more than MaxMessage bytes.
	ErrMessageTooLarge error = &peerError{"chat: message too large: over MaxMessage bytes"}
	// ErrOutputLimit: a single reply larger than OutLimit was queued, or
	// output pushed outside FoundTerminator piled up above OutLimit (the
	// peer does not read it).
	ErrOutputLimit error = &peerError{"chat: output queue over OutLimit bytes"}
	// ErrFrameTimeout: a frame was begun and its terminator did not come
	// within FrameTimeout (a slowloris peer, trickling a request).
	ErrFrameTimeout error = &peerError{"chat: frame timeout: no terminator within FrameTimeout of the frame's first byte"}
)

// peerError is an error a peer causes — by breaking a limit or trickling
// input — rather than a fault on our side. Its PeerCaused method is the
// mark that dispatcher.IsPeerCaused (and anything else) looks for with
// errors.As, through any wrapping; the errors are pointers, so == and
// errors.Is compare them as before.
type peerError struct{ msg string }

func (e *peerError) Error() string { return e.msg }

// PeerCaused reports that the peer, not the program, caused the error.
func (e *peerError) PeerCaused() bool { return true }
