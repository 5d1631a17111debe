package sock

// noSignalFlag is 0: darwin suppresses SIGPIPE per socket (SO_NOSIGPIPE).
const noSignalFlag = 0
