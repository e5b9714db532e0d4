package main

// Fault tests (issue 6): the bridge as a real process against a real Apache
// Kafka that the test stops, restarts, cuts off and starves, under steady
// load. Each ends by reading every topic back and checking the promise: a
// 2xx means the record is in Kafka; anything else is a 503 with Retry-After;
// nothing hangs past BRIDGE_PUBLISH_TIMEOUT + 1 s.
//
// Run with BRIDGE_TEST_FAULTS=1 (see requireFaults); each test starts its
// own broker with deploy/local/kafka.sh on free ports.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/webhook-bridge/webhook-bridge/topics"
	"github.com/webhook-bridge/webhook-bridge/topics/kafka"
	"github.com/webhook-bridge/webhook-bridge/topics/kafka/kafkatest"
)

// faultSteadyLoad is the load of most fault tests: 300 requests/s, never
// longer than two minutes, from enough goroutines to keep that rate while
// requests wait out the 3 s publish timeout.
var faultSteadyLoad = faultLoadShape{Rate: 300, Workers: 512, MaxDuration: 2 * time.Minute}

// faultSetup starts a broker of the test's own, the topics and the bridge
// (with env on top of the test defaults), and waits until it is ready.
func faultSetup(t *testing.T, env map[string]string) (*faultBroker, *faultBridge, kafka.Config, topics.Naming) {
	t.Helper()
	b := newFaultBroker(t, 0)
	b.start(t)
	kc, n := b.kafka(), kafkatest.Naming(t)
	kafkatest.CreateTopics(t, kc, n, 3)
	p := startFaultBridge(t, faultBuild(t), kc, n, env)
	p.waitReadyz(t, http.StatusOK, 60*time.Second)
	return b, p, kc, n
}

// 1. Broker stopped mid-load, then restarted with the same data.
func TestFaultBrokerStoppedMidLoadThenRestarted(t *testing.T) {
	requireFaults(t)
	b, p, kc, n := faultSetup(t, nil)
	l := startFaultLoad(t, p.base, faultTemplates(t, "subscription", "user", "company"), faultSteadyLoad)
	time.Sleep(3 * time.Second) // steady load before the fault
	if c := faultStatusCounts(l.snapshot()); c[http.StatusAccepted] == 0 {
		t.Fatalf("no 202 before the fault: %v", c)
	}

	b.stop(t)
	down := time.Now()
	d, body := p.waitKafka(t, false, 5*time.Second)
	t.Logf("Kafka reported down %s after the broker stopped, /readyz still 200: %s", d.Round(time.Millisecond), body)
	time.Sleep(time.Until(down.Add(6 * time.Second))) // the outage, under load

	b.start(t)
	back := time.Now()
	recovered := faultWaitFor(t, 15*time.Second, "a 2xx for a request sent after the broker returned", func() bool {
		_, ok := faultAcceptedAfter(l.snapshot(), back)
		return ok
	})
	ready, _ := p.waitKafka(t, true, 15*time.Second-recovered)
	t.Logf("after the broker returned: first 2xx in %s, Kafka reported up in %s", recovered.Round(time.Millisecond), (recovered + ready).Round(time.Millisecond))
	time.Sleep(4 * time.Second) // steady load after recovery
	outs := l.stop()

	outage := sentBetween(outs, down, back)
	t.Logf("during the outage (%s): %v; 503 latency %s", back.Sub(down).Round(time.Millisecond), faultStatusCounts(outage),
		faultLatencies(outage, func(o faultOutcome) bool { return o.status == http.StatusServiceUnavailable }))
	if faultStatusCounts(outage)[http.StatusServiceUnavailable] == 0 {
		t.Errorf("no 503 during the outage: %v", faultStatusCounts(outage))
	}
	// Recovered for good: what follows is (on a loaded machine, nearly) all 2xx.
	if ok, got := mostly(sentBetween(outs, back.Add(recovered+2*time.Second), time.Now()), 95); !ok {
		t.Errorf("from 2 s after recovery on, only %s", got)
	}
	checkNoAcknowledgedLoss(t, kc, n, outs, faultCheck{bridge: p})
}

// 2. Broker unreachable when serve starts.
func TestFaultBrokerUnreachableAtStart(t *testing.T) {
	requireFaults(t)
	b := newFaultBroker(t, 0) // not started yet
	kc, n := b.kafka(), kafkatest.Naming(t)
	p := startFaultBridge(t, faultBuild(t), kc, n, nil)
	if st, body := p.readyz(); st != http.StatusServiceUnavailable {
		t.Fatalf("/readyz with no broker: %d %s, want 503", st, body)
	}
	l := startFaultLoad(t, p.base, faultTemplates(t, "subscription", "order"), faultSteadyLoad)
	time.Sleep(4 * time.Second) // serving with no broker
	if p.done() {
		t.Fatalf("serve exited without a broker: %v", p.waitErr)
	}
	st, body := p.readyz()
	if st != http.StatusServiceUnavailable || !strings.Contains(body, "kafka") {
		t.Errorf("/readyz with no broker: %d %s, want 503 naming kafka", st, body)
	}
	before := l.snapshot()
	t.Logf("with no broker: %v; 503 latency %s; /readyz %s", faultStatusCounts(before),
		faultLatencies(before, func(o faultOutcome) bool { return o.status == http.StatusServiceUnavailable }), body)
	if c := faultStatusCounts(before); c[http.StatusServiceUnavailable] == 0 || c[http.StatusServiceUnavailable] != len(before) {
		t.Errorf("with no broker, answers %v, want only 503", c)
	}

	b.start(t)
	kafkatest.CreateTopics(t, kc, n, 3)
	created := time.Now()
	recovered := faultWaitFor(t, 30*time.Second, "a 2xx once the broker and topics exist", func() bool {
		_, ok := faultAcceptedAfter(l.snapshot(), created)
		return ok
	})
	ready, _ := p.waitReadyz(t, http.StatusOK, 30*time.Second)
	t.Logf("after the topics were created: first 2xx in %s, /readyz 200 %s later", recovered.Round(time.Millisecond), ready.Round(time.Millisecond))
	time.Sleep(3 * time.Second) // steady load once ready
	outs := l.stop()
	if ok, got := mostly(sentBetween(outs, created.Add(recovered+ready+time.Second), time.Now()), 95); !ok {
		t.Errorf("once ready, only %s", got)
	}
	checkNoAcknowledgedLoss(t, kc, n, outs, faultCheck{bridge: p})
}

// 3. Network faults between bridge and broker, through a toxiproxy proxy the
// broker advertises.
func TestFaultNetwork(t *testing.T) {
	requireFaults(t)
	proxyPort := faultFreePorts(t, 1)[0]
	b := newFaultBroker(t, proxyPort)
	api := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	proxy := toxiproxy.NewProxy(api, "kafka", "127.0.0.1:"+strconv.Itoa(proxyPort), "127.0.0.1:"+strconv.Itoa(b.port))
	if err := proxy.Start(); err != nil {
		t.Fatalf("start the proxy: %v", err)
	}
	t.Cleanup(proxy.Stop)
	b.start(t)
	kc, n := b.kafka(), kafkatest.Naming(t) // through the proxy
	kafkatest.CreateTopics(t, kc, n, 3)
	p := startFaultBridge(t, faultBuild(t), kc, n, nil)
	p.waitReadyz(t, http.StatusOK, 60*time.Second)
	tmpls := faultTemplates(t, "subscription", "user", "invoice")

	toxic := func(t *testing.T, name, typ, stream string, attrs string) func() {
		t.Helper()
		js := fmt.Sprintf(`{"name":%q,"type":%q,"stream":%q,"toxicity":1,"attributes":%s}`, name, typ, stream, attrs)
		if _, err := proxy.Toxics.AddToxicJson(strings.NewReader(js)); err != nil {
			t.Fatalf("add toxic %s: %v", js, err)
		}
		removed := false
		remove := func() {
			if !removed {
				removed = true
				if err := proxy.Toxics.RemoveToxic(context.Background(), name); err != nil {
					t.Errorf("remove toxic %s: %v", name, err)
				}
			}
		}
		t.Cleanup(remove)
		return remove
	}

	t.Run("latency", func(t *testing.T) {
		remove := toxic(t, "slow", "latency", "downstream", `{"latency":200}`)
		l := startFaultLoad(t, p.base, tmpls, faultLoadShape{Rate: 200, Workers: 512, MaxDuration: time.Minute})
		time.Sleep(8 * time.Second) // load through 200 ms of latency
		outs := l.stop()
		remove()
		ok, got := mostly(outs, 80)
		t.Logf("with 200 ms latency: %s; 2xx latency %s", got, faultLatencies(outs, func(o faultOutcome) bool { return o.status/100 == 2 }))
		if !ok {
			// kafka-go alone managed about 7% here: one small batch per
			// partition and round trip.
			t.Errorf("with 200 ms latency only %s, want at least 80%%", got)
		}
		checkNoAcknowledgedLoss(t, kc, n, outs, faultCheck{bridge: p})
	})

	t.Run("reset", func(t *testing.T) {
		l := startFaultLoad(t, p.base, tmpls, faultSteadyLoad)
		time.Sleep(2 * time.Second) // normal load first
		from := time.Now()
		remove := toxic(t, "reset", "reset_peer", "upstream", `{"timeout":0}`)
		time.Sleep(4 * time.Second) // every connection to the broker is reset
		remove()
		healed := time.Now()
		recovered := faultWaitFor(t, 15*time.Second, "a 2xx after connections stopped being reset", func() bool {
			_, ok := faultAcceptedAfter(l.snapshot(), healed)
			return ok
		})
		t.Logf("first 2xx %s after resets stopped", recovered.Round(time.Millisecond))
		time.Sleep(3 * time.Second) // steady load after recovery
		outs := l.stop()
		during := sentBetween(outs, from, healed)
		t.Logf("sent while connections were reset: %v", faultStatusCounts(during))
		if faultStatusCounts(during)[http.StatusServiceUnavailable] == 0 {
			t.Errorf("no 503 while every connection to the broker was reset: %v", faultStatusCounts(during))
		}
		checkNoAcknowledgedLoss(t, kc, n, outs, faultCheck{bridge: p})
	})

	t.Run("blackhole", func(t *testing.T) {
		l := startFaultLoad(t, p.base, tmpls, faultSteadyLoad)
		time.Sleep(2 * time.Second) // normal load first
		from := time.Now()
		remove := toxic(t, "blackhole", "timeout", "upstream", `{"timeout":0}`)
		time.Sleep(6 * time.Second) // nothing reaches the broker, nothing is refused
		remove()
		healed := time.Now()
		recovered := faultWaitFor(t, 30*time.Second, "a 2xx after the black hole closed", func() bool {
			_, ok := faultAcceptedAfter(l.snapshot(), healed)
			return ok
		})
		t.Logf("first 2xx %s after the black hole closed", recovered.Round(time.Millisecond))
		time.Sleep(3 * time.Second) // steady load after recovery
		outs := l.stop()
		during := sentBetween(outs, from.Add(500*time.Millisecond), healed.Add(-faultPublishTimeout))
		t.Logf("in the black hole: %v; 503 latency %s", faultStatusCounts(during),
			faultLatencies(during, func(o faultOutcome) bool { return o.status == http.StatusServiceUnavailable }))
		if c := faultStatusCounts(during); c[http.StatusServiceUnavailable] == 0 || c[http.StatusAccepted] > 0 {
			t.Errorf("requests sent into the black hole (and answered before it closed) got %v, want only 503", c)
		}
		checkNoAcknowledgedLoss(t, kc, n, outs, faultCheck{bridge: p})
	})
}

// 4. SIGTERM under load.
func TestFaultSIGTERMUnderLoad(t *testing.T) {
	requireFaults(t)
	const grace, timeout = 2 * time.Second, 10 * time.Second
	_, p, kc, n := faultSetup(t, map[string]string{"BRIDGE_SHUTDOWN_GRACE": grace.String(), "BRIDGE_SHUTDOWN_TIMEOUT": timeout.String()})
	// A new connection per request, so that "refused" is about new
	// connections and no request races a keep-alive connection's close.
	cfg := faultSteadyLoad
	cfg.NoKeepAlive = true
	l := startFaultLoad(t, p.base, faultTemplates(t, "subscription", "user", "company"), cfg)
	time.Sleep(3 * time.Second) // steady load first

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	term := time.Now()
	d, body := p.waitReadyz(t, http.StatusServiceUnavailable, grace/2)
	t.Logf("/readyz 503 %s after SIGTERM: %s", d.Round(time.Millisecond), body)
	var refused time.Duration // since SIGTERM
	faultWaitFor(t, grace+3*time.Second, "new connections refused", func() bool {
		c, err := net.DialTimeout("tcp", strings.TrimPrefix(p.base, "http://"), time.Second)
		if err == nil {
			c.Close()
		}
		refused = time.Since(term)
		return errors.Is(err, syscall.ECONNREFUSED)
	})
	select {
	case <-p.exited:
	case <-time.After(time.Until(term.Add(timeout + time.Second))):
		t.Fatalf("still running %s after SIGTERM (BRIDGE_SHUTDOWN_TIMEOUT %s)", time.Since(term).Round(time.Millisecond), timeout)
	}
	exited := time.Since(term)
	outs := l.stop()
	t.Logf("after SIGTERM: connections refused from %s, exit after %s with %v", refused.Round(time.Millisecond), exited.Round(time.Millisecond), p.waitErr)
	if p.waitErr != nil || exited > timeout {
		t.Errorf("exit %v after %s, want status 0 within BRIDGE_SHUTDOWN_TIMEOUT %s", p.waitErr, exited, timeout)
	}
	if refused < grace {
		t.Errorf("new connections refused %s after SIGTERM, before the grace period %s ended", refused, grace)
	}
	if len(faultLogMessages(t, p.logPath, "stopped")) != 1 {
		t.Errorf("no \"stopped\" log line:\n%s", faultLogTail(p.logPath, 10))
	}
	inGrace := sentBetween(outs, term, term.Add(grace-200*time.Millisecond))
	t.Logf("sent during the grace period: %v; after it: %v", faultStatusCounts(inGrace), faultStatusCounts(sentBetween(outs, term.Add(grace), time.Now())))
	if ok, got := mostly(inGrace, 95); !ok {
		t.Errorf("sent during the grace period: only %s", got)
	}
	checkNoAcknowledgedLoss(t, kc, n, outs, faultCheck{bridge: p, transportErrOK: func(o faultOutcome) bool {
		// The listener is closed: the connection is refused (or, for one
		// the kernel accepted but the server never did, reset or closed).
		return !o.sent.Before(term.Add(grace-500*time.Millisecond)) && errorClass(o.err) != "timeout" && errorClass(o.err) != "other"
	}})
}

// 5. A topic deleted while serving.
func TestFaultTopicDeletedWhileServing(t *testing.T) {
	requireFaults(t)
	_, p, kc, n := faultSetup(t, nil)
	l := startFaultLoad(t, p.base, faultTemplates(t, "subscription", "user", "company"), faultSteadyLoad)
	time.Sleep(3 * time.Second) // steady load first

	gone := n.Topic("user")
	cl := &kafkago.Client{Addr: kafkago.TCP(kc.Brokers...), Timeout: 30 * time.Second}
	res, err := cl.DeleteTopics(context.Background(), &kafkago.DeleteTopicsRequest{Topics: []string{gone}})
	if err != nil || res.Errors[gone] != nil {
		t.Fatalf("delete %s: %v %v", gone, err, res)
	}
	deleted := time.Now()
	var body string
	d := faultWaitFor(t, 15*time.Second, "/readyz naming the deleted topic", func() bool {
		var st int
		st, body = p.readyz()
		if st != http.StatusOK {
			t.Errorf("/readyz %d after the delete, want 200 (readiness does not follow Kafka): %s", st, body)
		}
		return strings.Contains(body, gone)
	})
	t.Logf("/readyz names the deleted topic %s after the delete: %s", d.Round(time.Millisecond), body)
	time.Sleep(time.Until(deleted.Add(12 * time.Second))) // load without the topic
	outs := l.stop()

	// The deleted topic's records went with it; what was sent after the
	// delete must not have been acknowledged, while the others keep flowing.
	var others, deletedOuts []faultOutcome
	for _, o := range outs {
		switch {
		case o.resource != "user":
			others = append(others, o)
		case o.sent.After(deleted.Add(500 * time.Millisecond)):
			deletedOuts = append(deletedOuts, o)
		}
	}
	t.Logf("%s after the delete: %v; 503 latency %s", gone, faultStatusCounts(deletedOuts),
		faultLatencies(deletedOuts, func(o faultOutcome) bool { return o.status == http.StatusServiceUnavailable }))
	for _, o := range deletedOuts {
		if o.status != http.StatusServiceUnavailable || o.retryAfter == "" || o.latency > hangBound {
			t.Errorf("%s after the delete: %s got %d %s (Retry-After %q) in %s, want 503 with Retry-After", gone, o.id, o.status, o.code, o.retryAfter, o.latency)
			break
		}
	}
	if ok, got := mostly(sentBetween(others, deleted, time.Now()), 95); !ok {
		t.Errorf("other resources after the delete: only %s", got)
	}
	checkNoAcknowledgedLoss(t, kc, n, others, faultCheck{bridge: p})
}

// 6. Memory stays bounded during an outage: above BRIDGE_MAX_INFLIGHT the
// answer is 503 at once.
func TestFaultMemoryBoundedDuringOutage(t *testing.T) {
	requireFaults(t)
	const maxInFlight, rssBoundMiB = 200, 150
	b, p, kc, n := faultSetup(t, map[string]string{"BRIDGE_MAX_INFLIGHT": strconv.Itoa(maxInFlight)})
	tmpls := faultTemplates(t, "subscription", "user", "company")
	warm := startFaultLoad(t, p.base, tmpls, faultLoadShape{Rate: 300, Workers: 64, MaxDuration: time.Minute})
	time.Sleep(3 * time.Second) // warm up
	outs := warm.stop()
	before := p.rssKiB(t)

	// RSS every 20 ms from the broker's stop until after recovery.
	var peak, peakOutage atomic.Int64
	stopSampling, sampled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if r, err := p.rss(); err == nil && r > peak.Load() {
				peak.Store(r)
			}
			select {
			case <-stopSampling:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	b.stop(t)
	p.waitKafka(t, false, 10*time.Second)
	// Many more concurrent requests than the cap, for a while.
	storm := startFaultLoad(t, p.base, tmpls, faultLoadShape{Rate: 2000, Workers: 1000, MaxDuration: 8 * time.Second})
	time.Sleep(8 * time.Second)
	stormOuts := storm.stop()
	peakOutage.Store(peak.Load())

	b.start(t)
	again := startFaultLoad(t, p.base, tmpls, faultLoadShape{Rate: 300, Workers: 64, MaxDuration: time.Minute})
	back := time.Now()
	rec := faultWaitFor(t, 15*time.Second, "a 2xx after the broker returned", func() bool {
		_, ok := faultAcceptedAfter(again.snapshot(), back)
		return ok
	})
	time.Sleep(3 * time.Second) // load after recovery
	recOuts := again.stop()
	close(stopSampling)
	<-sampled
	after := p.rssKiB(t)

	overloaded := func(o faultOutcome) bool { return o.status == http.StatusServiceUnavailable && o.code == "overloaded" }
	var nOver int
	for _, o := range stormOuts {
		if overloaded(o) {
			nOver++
		}
	}
	t.Logf("outage storm (1000 concurrent senders, BRIDGE_MAX_INFLIGHT=%d): %d requests, %d overloaded; overloaded latency %s; other 503 latency %s",
		maxInFlight, len(stormOuts), nOver, faultLatencies(stormOuts, overloaded),
		faultLatencies(stormOuts, func(o faultOutcome) bool { return o.status == http.StatusServiceUnavailable && o.code != "overloaded" }))
	t.Logf("RSS: before %.1f MiB, peak during the outage %.1f MiB, peak until after recovery %.1f MiB, after recovery %.1f MiB (bound %d MiB); first 2xx %s after the broker returned",
		mib(before), mib(peakOutage.Load()), mib(peak.Load()), mib(after), rssBoundMiB, rec.Round(time.Millisecond))
	t.Logf("at most %d requests of the storm were served (not refused) at once, as the client saw them", maxOverlap(stormOuts, func(o faultOutcome) bool { return !overloaded(o) }))
	if nOver == 0 {
		t.Errorf("no request was refused as overloaded with %d concurrent senders and BRIDGE_MAX_INFLIGHT=%d", 1000, maxInFlight)
	}
	for _, o := range stormOuts {
		if overloaded(o) && o.latency >= faultPublishTimeout {
			t.Errorf("an overloaded request waited %s: it was queued, not refused at once", o.latency)
			break
		}
	}
	for _, r := range []int64{before, peak.Load(), after} {
		if r > rssBoundMiB<<10 && os.Getenv("BRIDGE_TEST_FAULTS_RACE") != "1" { // the race detector's memory is not the bridge's
			t.Errorf("RSS %.1f MiB is above the bound of %d MiB", mib(r), rssBoundMiB)
		}
	}
	outs = append(append(outs, stormOuts...), recOuts...)
	checkNoAcknowledgedLoss(t, kc, n, outs, faultCheck{bridge: p})
}

// 7. Duplicates against the real broker: one event posted 11 times, one
// after the other and all at once, is one record; and 11 at once while the
// broker is away all get their 503 within the publish timeout, instead of
// waiting for one another.
func TestFaultDuplicatesAreOneRecord(t *testing.T) {
	requireFaults(t)
	b, p, kc, n := faultSetup(t, nil)
	tp := faultTemplates(t, "subscription")[0]
	client := &http.Client{Timeout: 30 * time.Second}
	seqID, concID := "d0000001-0000-4000-8000-000000000001", "d0000001-0000-4000-8000-000000000002"
	var got []string
	for i := range 11 {
		st, code, _, err := faultPost(client, p.base+"/webhooks", tp.head+seqID+tp.tail)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%d %s", st, code))
		want := "202 duplicate"
		if i == 0 {
			want = "202 accepted"
		}
		if got[i] != want {
			t.Errorf("delivery %d: %s, want %s", i+1, got[i], want)
		}
	}
	var wg sync.WaitGroup
	conc := make([]string, 11)
	for i := range conc {
		wg.Go(func() {
			st, code, _, err := faultPost(client, p.base+"/webhooks", tp.head+concID+tp.tail)
			conc[i] = fmt.Sprintf("%d %s %v", st, code, err)
		})
	}
	wg.Wait()
	var accepted int
	for _, c := range conc {
		switch c {
		case "202 accepted <nil>":
			accepted++
		case "202 duplicate <nil>":
		default:
			t.Errorf("a concurrent delivery got %s", c)
		}
	}
	if accepted != 1 {
		t.Errorf("concurrent deliveries: %v, want one accepted and ten duplicates", conc)
	}
	counts := map[string]int{}
	for _, m := range kafkatest.ReadAll(t, kc, n.Topic("subscription"), time.Minute) {
		counts[kafkatest.Header(m, topics.HeaderEventID)]++
	}
	if counts[seqID] != 1 || counts[concID] != 1 || len(counts) != 2 {
		t.Errorf("records by event id: %v, want exactly one of each", counts)
	}
	t.Logf("11 deliveries in a row: %v; 11 at once: %d accepted; records: %v", got, accepted, counts)

	b.stop(t)
	outageID := "d0000001-0000-4000-8000-000000000003"
	outage := make([]faultOutcome, 11)
	for i := range outage {
		wg.Go(func() {
			o := faultOutcome{id: outageID, resource: "subscription", sent: time.Now()}
			o.status, o.code, o.retryAfter, o.err = faultPost(client, p.base+"/webhooks", tp.head+outageID+tp.tail)
			o.latency = time.Since(o.sent)
			outage[i] = o
		})
	}
	wg.Wait()
	t.Logf("11 at once with the broker stopped: %v; latency %s", faultStatusCounts(outage),
		faultLatencies(outage, func(faultOutcome) bool { return true }))
	for _, o := range outage {
		if o.status != http.StatusServiceUnavailable || o.retryAfter == "" || o.latency > hangBound {
			t.Errorf("a delivery with the broker stopped got %d %s (Retry-After %q, error %v) after %s, want 503 with Retry-After within %s",
				o.status, o.code, o.retryAfter, o.err, o.latency.Round(time.Millisecond), hangBound)
		}
	}
}
