//go:build !race

package rules

// raceBuild reports a test binary built with -race; see race_on_test.go.
const raceBuild = false
