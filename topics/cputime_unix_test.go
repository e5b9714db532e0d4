//go:build unix

package topics

import "syscall"

// processCPUTime is the CPU time, user and system, that the process has
// used so far, in nanoseconds. On a busy machine it grows only while the
// process runs, where wall time also counts the time others ran.
func processCPUTime() (int64, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return ru.Utime.Nano() + ru.Stime.Nano(), true
}
