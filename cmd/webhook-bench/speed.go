package main

import (
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

// speed is how fast this machine ran two fixed loops at one moment: hashing
// (CPU alone) and 1 KiB request/response round trips over a loopback TCP
// connection (system calls and the kernel's TCP, what most of a webhook's
// CPU is spent on). The same build's figures move with a VM's speed from
// one quarter of an hour to the next; measured at the start and the end of
// a run, these say how fast the machine was while it ran.
type speed struct {
	HashMBPerS float64 `json:"sha256_mb_per_s"`
	// RoundTripUS is the wall time of a round trip, RoundTripCPUUS this
	// process's CPU for it (both ends of the connection are in it).
	RoundTripUS    float64 `json:"loopback_round_trip_us"`
	RoundTripCPUUS float64 `json:"loopback_round_trip_cpu_us"`
}

func (s speed) String() string {
	return fmt.Sprintf("sha256 %.0f MB/s, loopback round trip %.1f µs (%.1f µs cpu)", s.HashMBPerS, s.RoundTripUS, s.RoundTripCPUUS)
}

// measureSpeed runs each loop for about d.
func measureSpeed(d time.Duration) (speed, error) {
	var s speed
	buf := make([]byte, 1<<20)
	n := 0
	start := time.Now()
	for time.Since(start) < d {
		sha256.Sum256(buf)
		n++
	}
	s.HashMBPerS = float64(n) * float64(len(buf)) / 1e6 / time.Since(start).Seconds()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return s, err
	}
	defer ln.Close()
	echoed := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			echoed <- err
			return
		}
		defer c.Close()
		msg := make([]byte, 1024)
		for {
			if _, err := io.ReadFull(c, msg); err != nil {
				echoed <- nil // the client hung up: done
				return
			}
			if _, err := c.Write(msg); err != nil {
				echoed <- err
				return
			}
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return s, err
	}
	trips, wall, cpu, err := pingPong(c, d)
	c.Close() // ends the echo
	if err != nil {
		return s, err
	}
	if err := <-echoed; err != nil {
		return s, err
	}
	s.RoundTripUS = float64(wall.Microseconds()) / float64(trips)
	s.RoundTripCPUUS = float64(cpu.Microseconds()) / float64(trips)
	return s, nil
}

// pingPong sends 1 KiB over c and reads it back for about d, and returns
// how many round trips it made, in how long, and this process's CPU time
// meanwhile.
func pingPong(c net.Conn, d time.Duration) (trips int, wall, cpu time.Duration, err error) {
	self := proc{pid: os.Getpid()}
	msg := make([]byte, 1024)
	cpu0, err := self.cpu()
	if err != nil {
		return 0, 0, 0, err
	}
	start := time.Now()
	for time.Since(start) < d {
		if _, err := c.Write(msg); err != nil {
			return 0, 0, 0, err
		}
		if _, err := io.ReadFull(c, msg); err != nil {
			return 0, 0, 0, err
		}
		trips++
	}
	wall = time.Since(start)
	cpu1, err := self.cpu()
	return trips, wall, cpu1 - cpu0, err
}
