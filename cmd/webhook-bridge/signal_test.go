package main

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestASecondSignalStopsAtOnce: the first SIGTERM starts the orderly
// shutdown (here a 20 s grace period); a second one ends the process at
// once, for the operator whose Ctrl-C must not wait out the drain.
func TestASecondSignalStopsAtOnce(t *testing.T) {
	bin := faultBuild(t)
	cmd := exec.Command(bin, "dev")
	var environ []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, envPrefix+"_") {
			environ = append(environ, kv)
		}
	}
	cmd.Env = append(environ,
		"BRIDGE_HTTP_ADDR="+freeAddr(t), "BRIDGE_ADMIN_ADDR="+freeAddr(t), "BRIDGE_DEV_KAFKA_ADDR=127.0.0.1:0",
		"BRIDGE_SHUTDOWN_GRACE=20s", "BRIDGE_SHUTDOWN_TIMEOUT=40s")
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	defer func() {
		_ = cmd.Process.Kill()
		<-exited
	}()
	waitLog := func(what string) {
		t.Helper()
		for deadline := time.Now().Add(60 * time.Second); !strings.Contains(logs.String(), what); {
			if time.Now().After(deadline) || chanClosed(exited) {
				t.Fatalf("no %q in the log (after 60s, or the process ended):\n%s", what, logs.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitLog(`"message":"listening"`)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitLog("shutting down")
	select {
	case <-exited:
		t.Fatalf("exited before the second signal, within the 20 s grace: %v", waitErr)
	case <-time.After(300 * time.Millisecond):
	}
	second := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
		if !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
			t.Errorf("after the second SIGTERM: %v, want killed by SIGTERM", waitErr)
		}
		t.Logf("stopped %s after the second SIGTERM", time.Since(second).Round(time.Millisecond))
	case <-time.After(10 * time.Second): // a bound for a hang; the grace left is 19 s
		t.Fatalf("still running 10s after a second SIGTERM, in a 20s grace period:\n%s", logs.String())
	}
}

func chanClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
