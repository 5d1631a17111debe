//go:build race

package dispatcher

// raceEnabled turns the lent-input debug mode on in a race build (see
// DataHandler).
const raceEnabled = true
