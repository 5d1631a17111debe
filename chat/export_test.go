package chat

// DebugCollect reports whether the CollectIncomingData debug mode is on.
func DebugCollect() bool { return debugCollect }

// PoisonByte is what the debug mode overwrites collected data with.
const PoisonByte = poisonByte

// RaceEnabled is set in a race build, which turns the debug mode on.
const RaceEnabled = raceEnabled
