package main

// Resource limits of the real binary against what an attacker on the open
// internet can do without credentials (idle connections) and with them
// (bodies held open). Each test spawns `webhook-bridge serve` so that its
// RSS is the process's own.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webhook-bridge/webhook-bridge/topics/kafka/kafkatest"
)

// rawConn is a client connection that speaks HTTP/1.1 by hand, so that the
// test decides exactly when it sends and stays open.
type rawConn struct {
	c net.Conn
	r *bufio.Reader
}

func dialRaw(addr string) (*rawConn, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return &rawConn{c: c, r: bufio.NewReader(c)}, nil
}

// do sends one request and reads the status of its answer; the body is
// discarded and the connection stays open.
func (rc *rawConn) do(method, path, body string, headers ...string) (int, error) {
	_ = rc.c.SetDeadline(time.Now().Add(20 * time.Second)) // a hang fails the request, not the test run
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: bridge\r\nContent-Type: application/json\r\nContent-Length: %d\r\n", method, path, len(body))
	for i := 0; i+1 < len(headers); i += 2 {
		fmt.Fprintf(&b, "%s: %s\r\n", headers[i], headers[i+1])
	}
	b.WriteString("\r\n")
	b.WriteString(body)
	if _, err := io.WriteString(rc.c, b.String()); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(rc.r, nil)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// closedByServer reports whether the server closed the connection within d.
func (rc *rawConn) closedByServer(d time.Duration) bool {
	_ = rc.c.SetReadDeadline(time.Now().Add(d))
	_, err := rc.r.ReadByte()
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return false
	}
	return err != nil
}

// webhookBody is a valid SUBSCRIPTION delivery with its own event id.
func webhookBody(id string) string {
	return strings.Replace(devSample, "7d3c1a52-0b8e-4f61-9a7e-2f5c8e4b1d09", id, 1)
}

// TestConnectionCapAndIdleLimits: more idle connections than
// BRIDGE_HTTP_MAX_CONNS neither hang a new delivery nor take the admin port
// down, cost a bounded amount of memory, and the unauthenticated ones are
// cut after BRIDGE_HTTP_UNAUTHENTICATED_IDLE_TIMEOUT, after which a valid
// webhook on a fresh connection gets 202. Connections that authenticated
// keep being served while new ones are refused at the cap.
func TestConnectionCapAndIdleLimits(t *testing.T) {
	kc := kafkatest.Kafka(t)
	n := kafkatest.Naming(t)
	kafkatest.CreateTopics(t, kc, n, 3)
	const maxConns, attackers = 300, 400
	p := startFaultBridge(t, faultBuild(t), kc, n, map[string]string{
		"BRIDGE_HTTP_MAX_CONNS":                    fmt.Sprint(maxConns),
		"BRIDGE_HTTP_UNAUTHENTICATED_IDLE_TIMEOUT": "2s",
	})
	p.waitReadyz(t, http.StatusOK, 60*time.Second)
	addr := strings.TrimPrefix(p.base, "http://")
	rss0 := p.rssKiB(t)
	if b, err := os.ReadFile(p.logPath); err != nil || !strings.Contains(string(b), `"message":"open-file limit"`) {
		t.Errorf("serve did not log its open-file limit (err %v)", err)
	}

	// An attacker: one unauthenticated request per connection, then idle.
	var idle []*rawConn
	var refused int
	for i := range attackers {
		rc, err := dialRaw(addr)
		if err != nil {
			refused++
			continue
		}
		if st, err := rc.do("GET", "/healthz", ""); err != nil {
			refused++ // reset at the cap
			rc.c.Close()
			continue
		} else if st != http.StatusNotFound {
			t.Fatalf("attacker connection %d: GET /healthz on the webhook port = %d, want 404", i, st)
		}
		idle = append(idle, rc)
	}
	t.Cleanup(func() {
		for _, rc := range idle {
			rc.c.Close()
		}
	})
	t.Logf("%d attacker connections: %d held, %d refused at the cap of %d", attackers, len(idle), refused, maxConns)
	if len(idle) > maxConns || refused < attackers-maxConns {
		t.Errorf("%d connections held and %d refused, want at most %d held", len(idle), refused, maxConns)
	}
	// A delivery on a fresh connection now: 202, or refused at once; never
	// a hang.
	start := time.Now()
	if rc, err := dialRaw(addr); err == nil {
		st, err := rc.do("POST", "/webhooks", webhookBody("cap-1"), "X-AppDirect-Webhook-Token", faultToken)
		rc.c.Close()
		if err == nil && st != http.StatusAccepted {
			t.Errorf("delivery at the cap: %d, want 202 or a refused connection", st)
		}
		t.Logf("delivery at the cap: status %d, err %v, after %s", st, err, time.Since(start).Round(time.Millisecond))
	} else {
		t.Logf("delivery at the cap: dial refused (%v) after %s", err, time.Since(start).Round(time.Millisecond))
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("delivery at the cap took %s: it hung", d)
	}
	if st, body := p.readyz(); st != http.StatusOK {
		t.Errorf("admin /readyz at the cap: %d %s", st, body)
	}
	rss1 := p.rssKiB(t)
	perConn := float64(rss1-rss0) / float64(len(idle))
	t.Logf("RSS %d KiB before, %d KiB with %d idle connections: %.1f KiB per connection", rss0, rss1, len(idle), perConn)
	// The memory figure (docs/operations.md) allows 64 KiB per connection.
	if rss1-rss0 > int64(maxConns)*64 {
		t.Errorf("%d idle connections took %d KiB, over 64 KiB each", len(idle), rss1-rss0)
	}

	// The unauthenticated idle timeout cuts every one of them.
	var cut atomic.Int32
	var wg sync.WaitGroup
	for _, rc := range idle {
		wg.Go(func() {
			if rc.closedByServer(15 * time.Second) {
				cut.Add(1)
			}
		})
	}
	wg.Wait()
	if int(cut.Load()) != len(idle) {
		t.Errorf("%d of %d unauthenticated idle connections were cut within 15 s, want all (timeout 2 s)", cut.Load(), len(idle))
	}
	rc, err := dialRaw(addr)
	if err != nil {
		t.Fatalf("dial after the idle connections were cut: %v", err)
	}
	if st, err := rc.do("POST", "/webhooks", webhookBody("cap-2"), "X-AppDirect-Webhook-Token", faultToken); err != nil || st != http.StatusAccepted {
		t.Fatalf("delivery after the idle connections were cut: %d %v, want 202", st, err)
	}
	rc.c.Close()

	// Authenticated connections fill the cap and outlive the short idle
	// timeout; a new connection is refused, the open ones keep being served.
	var trusted []*rawConn
	for i := range maxConns {
		rc, err := dialRaw(addr)
		if err != nil {
			break
		}
		st, err := rc.do("POST", "/webhooks", webhookBody(fmt.Sprintf("cap-t-%d", i)), "X-AppDirect-Webhook-Token", faultToken)
		if err != nil {
			rc.c.Close()
			break // the cap: the previous connections' slots may be freed a moment late
		}
		if st != http.StatusAccepted {
			t.Fatalf("authenticated connection %d: %d, want 202", i, st)
		}
		trusted = append(trusted, rc)
	}
	t.Cleanup(func() {
		for _, rc := range trusted {
			rc.c.Close()
		}
	})
	if len(trusted) < maxConns-5 {
		t.Fatalf("only %d authenticated connections opened, want about %d", len(trusted), maxConns)
	}
	time.Sleep(3 * time.Second) // past the unauthenticated idle timeout
	if rc, err := dialRaw(addr); err == nil {
		if st, err := rc.do("POST", "/webhooks", webhookBody("cap-3"), "X-AppDirect-Webhook-Token", faultToken); err == nil && len(trusted) == maxConns {
			t.Errorf("a connection over a full cap was served (%d)", st)
		}
		rc.c.Close()
	}
	for i, rc := range trusted[:10] {
		if st, err := rc.do("POST", "/webhooks", webhookBody(fmt.Sprintf("cap-again-%d", i)), "X-AppDirect-Webhook-Token", faultToken); err != nil || st != http.StatusAccepted {
			t.Errorf("authenticated connection %d after 3 s idle: %d %v, want 202 (its idle timeout is BRIDGE_HTTP_IDLE_TIMEOUT)", i, st, err)
		}
	}
	if st, body := p.readyz(); st != http.StatusOK {
		t.Errorf("admin /readyz with the cap full: %d %s", st, body)
	}
}

// TestBodiesHeldOpenStayWithinTheMemoryBudget: 600 authenticated requests,
// each sending a body just under 1 MiB and holding its last byte, keep the
// process's RSS under BRIDGE_MAX_INFLIGHT_BYTES + 100 MiB; those over the
// budget get 503 with Retry-After at once.
func TestBodiesHeldOpenStayWithinTheMemoryBudget(t *testing.T) {
	kc := kafkatest.Kafka(t)
	n := kafkatest.Naming(t)
	const budget = 64 << 20 // the default BRIDGE_MAX_INFLIGHT_BYTES
	bin := faultBuild(t)
	// The binary's own topics create: its topics take a record of the
	// largest body (max.message.bytes), the broker's default does not.
	create := exec.Command(bin, "topics", "create")
	create.Env = append(os.Environ(), "BRIDGE_KAFKA_BROKERS="+strings.Join(kc.Brokers, ","), "BRIDGE_TOPIC_PREFIX="+n.Prefix,
		"BRIDGE_INTERNAL_TOPIC_PREFIX="+n.Internal, "BRIDGE_TOPIC_PARTITIONS=3", "BRIDGE_TOPIC_REPLICATION=1")
	if out, err := create.CombinedOutput(); err != nil {
		t.Fatalf("topics create: %v\n%s", err, out)
	}
	p := startFaultBridge(t, bin, kc, n, map[string]string{"BRIDGE_HTTP_READ_TIMEOUT": "60s", "BRIDGE_PUBLISH_TIMEOUT": "25s"}) // the bodies are held for seconds
	p.waitReadyz(t, http.StatusOK, 60*time.Second)
	addr := strings.TrimPrefix(p.base, "http://")
	rss0 := p.rssKiB(t)

	const conns, size = 600, 1<<20 - 100
	chunk := []byte(strings.Repeat("x", 64<<10))
	var wg sync.WaitGroup
	var accepted, refused503, other atomic.Int32
	release := make(chan struct{})
	sent := make(chan struct{}, conns)
	for i := range conns {
		wg.Go(func() {
			var once sync.Once
			signal := func() { once.Do(func() { sent <- struct{}{} }) }
			defer signal()
			c, err := net.DialTimeout("tcp", addr, 10*time.Second)
			if err != nil {
				other.Add(1)
				return
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(90 * time.Second))
			head := fmt.Sprintf("POST /webhooks HTTP/1.1\r\nHost: bridge\r\nContent-Type: application/json\r\nContent-Length: %d\r\nX-AppDirect-Webhook-Token: %s\r\n\r\n", size, faultToken)
			if _, err := io.WriteString(c, head); err != nil {
				other.Add(1)
				return
			}
			answered := make(chan int, 1)
			go func() {
				resp, err := http.ReadResponse(bufio.NewReader(c), nil)
				if err != nil {
					answered <- 0
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusServiceUnavailable && resp.StatusCode != http.StatusAccepted {
					t.Logf("connection %d: %d %s", i, resp.StatusCode, b)
				}
				if resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "" {
					t.Errorf("connection %d: 503 without Retry-After", i)
				}
				answered <- resp.StatusCode
			}()
			// A body of {"uuid":"held-i",...} padded to size, all but its
			// last byte now.
			body := fmt.Sprintf(`{"uuid":"held-%d","resource":{"type":"ORDER","uuid":"o-1","content":{"company":{"id":"c-1"},"pad":"`, i)
			pad := size - len(body) - len(`"}},"resourceAction":"ADDED"}`)
			if _, err := io.WriteString(c, body); err != nil {
				other.Add(1)
				return
			}
			for left := pad; left > 0; {
				k := min(left, len(chunk))
				if _, err := c.Write(chunk[:k]); err != nil {
					break // answered and closed: over the budget
				}
				left -= k
			}
			tail := `"}},"resourceAction":"ADDED"}`
			_, _ = io.WriteString(c, tail[:len(tail)-1])
			var st int
			select {
			case st = <-answered:
			case <-time.After(2 * time.Second): // held
				signal()
				<-release
				_, _ = io.WriteString(c, tail[len(tail)-1:])
				st = <-answered
			}
			switch st {
			case http.StatusAccepted:
				accepted.Add(1)
			case http.StatusServiceUnavailable:
				refused503.Add(1)
			default:
				other.Add(1)
			}
		})
	}
	for range conns {
		<-sent
	}
	rss1 := p.rssKiB(t)
	close(release)
	wg.Wait()
	t.Logf("%d bodies of %d bytes held open: %d got 202, %d got 503 with Retry-After, %d other; RSS %d KiB before, %d KiB while held",
		conns, size, accepted.Load(), refused503.Load(), other.Load(), rss0, rss1)
	if limit := int64(budget>>10) + 100<<10; rss1 > limit {
		t.Errorf("RSS %d KiB while the bodies were held, over BRIDGE_MAX_INFLIGHT_BYTES + 100 MiB (%d KiB)", rss1, limit)
	}
	// Every body waited for its last byte, so at most a budget's worth of
	// them was held at once; the others were refused while held.
	if a := accepted.Load(); a == 0 || a > budget/size+1 || refused503.Load()+a != conns {
		t.Errorf("%d accepted and %d refused with 503 of %d, with a budget of %d bodies", a, refused503.Load(), conns, budget/size)
	}
	if st, body := p.readyz(); st != http.StatusOK {
		t.Errorf("admin /readyz after the bodies: %d %s", st, body)
	}
}
