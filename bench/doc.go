// Package bench holds Lithair's benchmarks: Go benchmarks of the parts
// (rules, restart) here, the log against its peers in the separate module
// bench/peers, and the figures with the commands that produced them in
// RESULTS.md.
package bench
