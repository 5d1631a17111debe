package testutil

// GatherAllocates reports whether Dispatcher.Socket().SendBuffers allocates per call
// on this system: not on Linux, which uses its own sendmsg call.
const GatherAllocates = false
