package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMain lets -mode floor re-execute the test binary as its servers.
func TestMain(m *testing.M) {
	if kind := os.Getenv(floorEnv); kind != "" {
		if err := serveFloor(kind, os.Getenv(floorAddrEnv)); err != nil {
			os.Stderr.WriteString("floor server: " + err.Error() + "\n")
			os.Exit(1)
		}
		return
	}
	os.Exit(m.Run())
}

// The minimal server answers each request of a keep-alive connection once
// its Content-Length bytes are in, also when they come in pieces or
// several requests in one write, and hangs up on a request it cannot
// frame.
func TestRawFloorServerFramesRequests(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	done := make(chan struct{})
	go func() { serveRawConn(server); close(done) }()
	_ = client.SetDeadline(time.Now().Add(10 * time.Second))
	req := func(body string) string {
		return "POST /webhooks HTTP/1.1\r\nHost: x\r\ncontent-length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	}
	br := bufio.NewReader(client)
	readResponse := func() {
		t.Helper()
		line, err := br.ReadString('\n')
		if err != nil || line != "HTTP/1.1 202 Accepted\r\n" {
			t.Fatalf("status line %q, %v", line, err)
		}
		for {
			h, err := br.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if h == "\r\n" {
				break
			}
		}
		body := make([]byte, len(floorBody))
		if _, err := io.ReadFull(br, body); err != nil || !bytes.Equal(body, floorBody) {
			t.Fatalf("body %q, %v", body, err)
		}
	}
	two := req(`{"a":1}`) + req(`{"b":22}`)
	go func() {
		// In pieces: the second request's head split across writes.
		for _, part := range []string{two[:30], two[30:70], two[70:]} {
			if _, err := client.Write([]byte(part)); err != nil {
				return
			}
		}
	}()
	readResponse()
	readResponse()
	go client.Write([]byte("POST /webhooks HTTP/1.1\r\nHost: x\r\n\r\n"))
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the server kept a connection whose request has no Content-Length")
	}
	if n, err := br.Read(make([]byte, 1)); err == nil {
		t.Errorf("read %d bytes after a request without Content-Length, want the connection closed", n)
	}
}

// -mode floor runs every level against both servers, each its own
// process, and reports each server's CPU; it needs no Kafka.
func TestRunFloor(t *testing.T) {
	var stdout, stderr bytes.Buffer
	args := []string{
		"-mode", "floor", "-brokers", "127.0.0.1:1", "-duration", "1s", "-warmup", "100ms",
		"-concurrency", "4", "-rate", "300", "-cooldown", "0", "-variants", "41", "-json", "-speed", "0",
	}
	if err := run(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	var rep report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, stdout.String())
	}
	var got []string
	pids := map[string]bool{}
	for _, r := range rep.Results {
		got = append(got, r.Mode+" "+r.Load)
		if r.Requests == 0 || !r.Verify.OK || !r.Verify.NothingWritten || len(r.Errors) > 0 || r.CPUPerReqUS <= 0 || r.PeakRSS <= 0 {
			t.Errorf("%s %s: %d requests, errors %v, verify %+v, %.0f cpu µs/req, rss %d", r.Mode, r.Load, r.Requests, r.Errors, r.Verify, r.CPUPerReqUS, r.PeakRSS)
		}
		if !strings.HasPrefix(r.Measured, "floor server process ") || strings.Contains(r.Measured, strconv.Itoa(os.Getpid())+" ") {
			t.Errorf("%s %s: measured %q, want the floor server's own process", r.Mode, r.Load, r.Measured)
		}
		pids[r.Measured] = true
	}
	want := "floor-nethttp c=4,floor-nethttp rate=300/s,floor-raw c=4,floor-raw rate=300/s"
	if strings.Join(got, ",") != want || !rep.OK || len(pids) != 2 {
		t.Errorf("results %q (ok %v, %d processes), want %q from two processes", got, rep.OK, len(pids), want)
	}
	if _, err := parseFlags([]string{"-mode", "floor", "-url", "http://h/webhooks"}, io.Discard); err == nil {
		t.Error("-mode floor with -url: no error")
	}
}
