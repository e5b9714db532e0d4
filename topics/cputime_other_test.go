//go:build !unix

package topics

// processCPUTime is not measured here.
func processCPUTime() (int64, bool) { return 0, false }
