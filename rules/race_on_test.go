//go:build race

package rules

// raceBuild reports a test binary built with -race, where allocation-heavy
// Lua (one concatenation of two 64 MB strings is a single VM instruction,
// so the deadline can only stop the script after it) runs many times
// slower.
const raceBuild = true
