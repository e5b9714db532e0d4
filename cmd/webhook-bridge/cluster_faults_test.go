package main

// Cluster fault tests: the bridge as a real process against a real
// three-node Kafka cluster (deploy/local/kafka.sh start --nodes 3) with the
// production topic setup (replication 3, min.insync.replicas 2), under steady
// load while one node crashes, hangs, restarts, or every node restarts in
// turn. Losing one node of three must cost next to nothing: at least 99% of
// the requests sent while it is away get a 2xx and the rest a 503 with
// Retry-After; nothing acknowledged is lost; /readyz stays 200; no request
// takes longer than BRIDGE_PUBLISH_TIMEOUT + 1 s.
//
// Run with BRIDGE_TEST_FAULTS=1 (see requireFaults):
//
//	BRIDGE_TEST_FAULTS=1 go test -count=1 -run TestCluster -v -timeout 30m ./cmd/webhook-bridge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/webhook-bridge/webhook-bridge/topics"
	"github.com/webhook-bridge/webhook-bridge/topics/kafka"
	"github.com/webhook-bridge/webhook-bridge/topics/kafka/kafkatest"
)

const (
	clusterNodes      = 3
	clusterPortStep   = 10 // kafka.sh's KAFKA_NODE_PORT_STEP
	clusterPartitions = 6  // BRIDGE_TOPIC_PARTITIONS's default
	// clusterPublishTimeout is BRIDGE_PUBLISH_TIMEOUT's production default:
	// a dead node is fenced after broker.session.timeout.ms (6 s in
	// kafka.sh's cluster mode; 9 s is Kafka's default), after a controller
	// election when the node was the active controller (about 4 s more),
	// and its partitions' new leaders must be found within it.
	clusterPublishTimeout = 15 * time.Second
	clusterHangBound      = clusterPublishTimeout + time.Second
	// clusterHold is how long a crashed or paused node stays away: longer
	// than the session timeout, so the cluster fences it.
	clusterHold = 12 * time.Second
	// clusterSettle is how long a fault window lasts after the node is back.
	clusterSettle = 5 * time.Second
	// clusterBefore is the steady load before a fault.
	clusterBefore = 4 * time.Second
)

// clusterLoad is the load of every cluster fault test: 200 requests/s, with
// senders enough for every request of a 10 s stall to wait at once.
var clusterLoad = faultLoadShape{Rate: 200, Workers: 2500, MaxDuration: 4 * time.Minute}

// TestClusterFaults runs its subtests in order on one cluster and one
// bridge; each fault subtest first brings every node back, waits until every
// partition has three in-sync replicas and moves leadership back to the
// preferred replicas.
func TestClusterFaults(t *testing.T) {
	requireFaults(t)
	c := startFaultCluster(t)
	bin := faultBuild(t)
	n := kafkatest.Naming(t)
	c.createTopics(t, bin, n)
	d := c.waitHealthy(t, n.All(), 2*time.Minute)
	t.Logf("every partition has a leader and 3 in-sync replicas %s after topics create", d.Round(time.Millisecond))
	p := startFaultBridge(t, bin, c.kafka(), n, map[string]string{
		"BRIDGE_TOPIC_PARTITIONS":  strconv.Itoa(clusterPartitions),
		"BRIDGE_TOPIC_REPLICATION": "3",
		"BRIDGE_PUBLISH_TIMEOUT":   clusterPublishTimeout.String(),
	})
	p.waitReadyz(t, http.StatusOK, 60*time.Second)
	s := &clusterSuite{c: c, p: p, n: n}
	s.tmpls, s.lanes = clusterTemplates(t, n, 16, "subscription", "user", "company")
	s.loaded = []string{n.Topic("subscription"), n.Topic("user"), n.Topic("company"), n.Index()}

	s.warmUp(t)

	t.Run("TopicsReplicated", s.testTopics)
	t.Run("Crash", func(t *testing.T) { s.nodeFault(t, "crash", "start", clusterHold, false) })
	t.Run("CrashController", func(t *testing.T) { s.nodeFault(t, "crash", "start", clusterHold, true) })
	t.Run("Pause", func(t *testing.T) { s.nodeFault(t, "pause", "resume", clusterHold, false) })
	t.Run("Stop", func(t *testing.T) { s.nodeFault(t, "stop", "start", 0, false) })
	t.Run("RollingRestart", s.testRolling)
}

// warmUp sends load before any test measures, until a request is answered
// within a second: the first records on a new cluster waited up to 5 s for
// its cold brokers (on a 2-core machine, each of whose three JVMs only
// compiles with C1), which is no node's fault.
func (s *clusterSuite) warmUp(t *testing.T) {
	t.Helper()
	l := startFaultLoad(t, s.p.base, s.tmpls, clusterLoad)
	time.Sleep(clusterBefore) // steady load
	warm := time.Now()
	faultWaitFor(t, time.Minute, "a 2xx within a second", func() bool {
		return slices.ContainsFunc(l.snapshot(), func(o faultOutcome) bool {
			return o.sent.After(warm) && o.status/100 == 2 && o.latency < time.Second
		})
	})
	outs := l.stop()
	t.Logf("warm-up: %v; latency 2xx %s", faultStatusCounts(outs), faultLatencies(outs, func(o faultOutcome) bool { return o.status/100 == 2 }))
}

// clusterSuite is what the subtests share.
type clusterSuite struct {
	c      *faultCluster
	p      *faultBridge
	n      topics.Naming
	tmpls  []faultTemplate
	lanes  []string // the partitions a request of tmpls[i] writes to
	loaded []string // the topics the load writes to
}

// testTopics reads back from the brokers how `topics create` set up every
// topic: the production setup, replication 3 and min.insync.replicas 2, so
// that acks=all means two disks and one node may be lost.
func (s *clusterSuite) testTopics(t *testing.T) {
	admin, err := kafka.NewAdmin(s.c.kafka(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	infos, err := admin.Describe(ctx, s.n.All())
	if err != nil {
		t.Fatalf("describe the topics: %v", err)
	}
	for _, name := range s.n.All() {
		info, ok := infos[name]
		switch {
		case !ok:
			t.Errorf("%s: missing", name)
		case info.Partitions != clusterPartitions || info.ReplicationFactor != 3 || info.MinInSyncReplicas != 2:
			t.Errorf("%s: %d partitions, replication %d, min.insync.replicas %d; want %d, 3 and 2",
				name, info.Partitions, info.ReplicationFactor, info.MinInSyncReplicas, clusterPartitions)
		}
	}
	// Describe reads the replication of partition 0; every partition counts.
	md, err := s.c.metadata(s.n.All(), 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range md.Topics {
		for _, pt := range tp.Partitions {
			if len(pt.Replicas) != 3 {
				t.Errorf("%s/%d has %d replicas, want 3", tp.Name, pt.ID, len(pt.Replicas))
			}
		}
	}
	t.Logf("%d topics read back with DescribeConfigs: %d partitions each, every one with 3 replicas; min.insync.replicas=%d (the brokers' default is 1)",
		len(infos), clusterPartitions, infos[s.n.Topic("subscription")].MinInSyncReplicas)
}

// nodeFault takes one node away with the kafka.sh verb down, keeps it away
// for hold, brings it back with up, all under steady load, and checks the
// promise. The node leads partitions under load and is not the active
// KRaft controller (see pick).
func (s *clusterSuite) nodeFault(t *testing.T, down, up string, hold time.Duration, controllerToo bool) {
	s.heal(t)
	node, led, controller := s.pick(t, controllerToo)
	rz := watchReadyz(s.p)
	defer rz.stop()
	l := startFaultLoad(t, s.p.base, s.tmpls, clusterLoad)
	time.Sleep(clusterBefore) // steady load before the fault
	s.waitAccepted(t, l)

	fault := time.Now()
	took := s.c.node(t, down, node)
	moved := s.c.waitLeadersOff(t, s.loaded, node, hold+time.Minute)
	fenced := "not seen in the controllers' logs"
	if at, ok := s.c.fencedAfter(node, fault); ok {
		fenced = at.Sub(fault).Round(time.Millisecond).String() + " after the fault"
	}
	t.Logf("node %d (the active KRaft controller: node %d) led %d partitions under load (%s); `%s %d` took %s; it was fenced %s; its partitions had new leaders %s after the fault",
		node, controller, len(led), strings.Join(led, " "), down, node, took.Round(time.Millisecond), fenced, moved.Round(time.Millisecond))
	time.Sleep(time.Until(fault.Add(hold))) // the node stays away, under load
	took = s.c.node(t, up, node)
	back := time.Now()
	caught := s.c.waitHealthy(t, s.n.All(), 2*time.Minute)
	t.Logf("`%s %d` took %s (node back %s after the fault); every partition had 3 in-sync replicas again %s later",
		up, node, took.Round(time.Millisecond), back.Sub(fault).Round(time.Millisecond), caught.Round(time.Millisecond))
	time.Sleep(time.Until(back.Add(clusterSettle))) // steady load after
	outs := l.stop()
	s.stalls(t, outs, fault, led)
	s.check(t, outs, l.started, rz, []clusterWindow{{name: fmt.Sprintf("node %d %s until %s after `%s`", node, down, clusterSettle, up), from: fault, to: back.Add(clusterSettle)}})
}

// stalls logs how long the requests sent in the first two seconds of a
// fault took, apart for those that write to a partition the node led:
// acks=all also waits for a follower until it leaves the ISR.
func (s *clusterSuite) stalls(t *testing.T, outs []faultOutcome, fault time.Time, led []string) {
	t.Helper()
	var touching, others []faultOutcome
	for _, o := range sentBetween(outs, fault, fault.Add(2*time.Second)) {
		lane := s.lane(o)
		if slices.ContainsFunc(strings.Split(lane, "+"), func(p string) bool { return slices.Contains(led, p) }) {
			touching = append(touching, o)
		} else {
			others = append(others, o)
		}
	}
	all := func(faultOutcome) bool { return true }
	t.Logf("sent in the first 2 s of the fault: to a partition the node led: %v, latency %s; to the others only: %v, latency %s",
		faultStatusCounts(touching), faultLatencies(touching, all), faultStatusCounts(others), faultLatencies(others, all))
}

// testRolling restarts the nodes one after another, as an upgrade does:
// stop, start, and wait until every partition has its three in-sync
// replicas again before the next.
func (s *clusterSuite) testRolling(t *testing.T) {
	s.heal(t)
	rz := watchReadyz(s.p)
	defer rz.stop()
	l := startFaultLoad(t, s.p.base, s.tmpls, clusterLoad)
	time.Sleep(clusterBefore) // steady load before the first restart
	s.waitAccepted(t, l)
	var windows []clusterWindow
	var back time.Time
	for node := 1; node <= clusterNodes; node++ {
		led := s.leads(t)[node]
		from := time.Now()
		if len(windows) > 0 {
			windows[len(windows)-1].to = from
		}
		windows = append(windows, clusterWindow{name: fmt.Sprintf("node %d's restart until the next", node), from: from})
		stopped := s.c.node(t, "stop", node)
		started := s.c.node(t, "start", node)
		back = time.Now()
		caught := s.c.waitHealthy(t, s.n.All(), 2*time.Minute)
		t.Logf("node %d (leading %d partitions under load: %s): stop took %s, start %s; every partition had 3 in-sync replicas again %s later",
			node, len(led), strings.Join(led, " "), stopped.Round(time.Millisecond), started.Round(time.Millisecond), caught.Round(time.Millisecond))
	}
	end := back.Add(clusterSettle)
	windows[len(windows)-1].to = end
	windows[len(windows)-1].name = fmt.Sprintf("node %d's restart until %s after its start", clusterNodes, clusterSettle)
	windows = append(windows, clusterWindow{name: "the whole rolling restart", from: windows[0].from, to: end})
	time.Sleep(time.Until(end)) // steady load after
	outs := l.stop()
	s.check(t, outs, l.started, rz, windows)
}

// clusterWindow is a span of sending times in which at least 99% of the
// requests must get a 2xx.
type clusterWindow struct {
	name     string
	from, to time.Time
}

// check logs the numbers of a fault test and checks them: 99% 2xx in each
// window, /readyz 200 throughout, and checkNoAcknowledgedLoss.
func (s *clusterSuite) check(t *testing.T, outs []faultOutcome, began time.Time, rz *readyzWatch, windows []clusterWindow) {
	t.Helper()
	failed := false
	is2xx := func(o faultOutcome) bool { return o.status/100 == 2 }
	is503 := func(o faultOutcome) bool { return o.status == http.StatusServiceUnavailable }
	for _, w := range windows {
		win := sentBetween(outs, w.from, w.to)
		ok, got := mostly(win, 99)
		t.Logf("%s (%s): %s; latency 2xx %s; 503 %s", w.name, w.to.Sub(w.from).Round(time.Millisecond), got,
			faultLatencies(win, is2xx), faultLatencies(win, is503))
		if !ok {
			failed = true
			t.Errorf("%s: only %s, want at least 99%% 2xx", w.name, got)
		}
		if lanes := s.byLane(win); lanes != "" {
			t.Logf("%s: the requests without a 2xx, by the partitions they write to:%s", w.name, lanes)
		}
	}
	if failed {
		t.Logf("answers by the second they were sent in, from the start of the load:%s", timeline(outs, began))
	}
	rz.check(t)
	checkNoAcknowledgedLoss(t, s.c.kafka(), s.n, outs, faultCheck{bridge: s.p, hangBound: clusterHangBound})
}

// timeline counts the answers by the second they were sent in, from began.
func timeline(outs []faultOutcome, began time.Time) string {
	type second struct {
		ok, unavailable, overloaded, other int
		slowest                            time.Duration
	}
	var secs []second
	for _, o := range outs {
		i := int(o.sent.Sub(began) / time.Second)
		if i < 0 {
			continue
		}
		for len(secs) <= i {
			secs = append(secs, second{})
		}
		sc := &secs[i]
		switch {
		case o.status/100 == 2:
			sc.ok++
		case o.status == http.StatusServiceUnavailable && o.code == "overloaded":
			sc.overloaded++
		case o.status == http.StatusServiceUnavailable:
			sc.unavailable++
		default:
			sc.other++
		}
		sc.slowest = max(sc.slowest, o.latency)
	}
	var sb strings.Builder
	for i, sc := range secs {
		fmt.Fprintf(&sb, "\n\t+%ds: 2xx %d, 503 unavailable %d, 503 overloaded %d, other %d; slowest %s",
			i, sc.ok, sc.unavailable, sc.overloaded, sc.other, sc.slowest.Round(time.Millisecond))
	}
	return sb.String()
}

// byLane counts the outcomes without a 2xx by the partitions their records
// go to, with the answer they got.
func (s *clusterSuite) byLane(outs []faultOutcome) string {
	counts := map[string]int{}
	for _, o := range outs {
		if o.status/100 == 2 {
			continue
		}
		lane := s.lane(o)
		answer := strconv.Itoa(o.status) + " " + o.code
		if o.err != nil {
			answer = "no answer: " + errorClass(o.err)
		}
		counts[lane+" → "+answer]++
	}
	var sb strings.Builder
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		fmt.Fprintf(&sb, "\n\t%d× %s", counts[k], k)
	}
	return sb.String()
}

// lane returns the partitions the request of o wrote to: its template is
// the one its sequence number (the end of its id) picked.
func (s *clusterSuite) lane(o faultOutcome) string {
	if i := strings.LastIndexByte(o.id, '-'); i >= 0 {
		if seq, err := strconv.Atoi(o.id[i+1:]); err == nil {
			return s.lanes[seq%len(s.tmpls)]
		}
	}
	return "?"
}

// heal brings back every node that is not running, waits until every
// partition has three in-sync replicas, and gives each partition back to its
// preferred leader, so that every node leads some.
func (s *clusterSuite) heal(t *testing.T) {
	t.Helper()
	for node, state := range s.c.status(t) {
		switch state {
		case "paused":
			s.c.node(t, "resume", node)
		case "stopped":
			s.c.node(t, "start", node)
		}
	}
	s.c.waitHealthy(t, s.n.All(), 2*time.Minute)
	s.c.electPreferred(t, s.n.All())
}

// waitAccepted waits until a request the load sent got a 2xx.
func (s *clusterSuite) waitAccepted(t *testing.T, l *faultLoad) {
	t.Helper()
	faultWaitFor(t, clusterHangBound, "a 2xx before the fault", func() bool {
		_, ok := faultAcceptedAfter(l.snapshot(), l.started)
		return ok
	})
}

// pick returns a node that leads partitions under load, those partitions,
// and the active KRaft controller. With controller it picks the active
// controller when it leads partitions under load: every node is also a
// controller here (kafka.sh's combined mode), and when the active one dies
// the quorum first elects another (2 s until the voters miss it, then the
// vote), which only then starts the 6 s that fence the dead broker: 9 to
// 11 s in all, during which acks=all waits on every partition the node
// holds a replica of; BRIDGE_PUBLISH_TIMEOUT (15 s) is above that. A
// cluster with dedicated controllers never loses one with a broker.
// Otherwise it picks another node, the last listed first, so the first
// listed is not the one faulted.
func (s *clusterSuite) pick(t *testing.T, controllerToo bool) (node int, led []string, controller int) {
	t.Helper()
	leads := s.leads(t)
	controller = s.c.controller()
	if controller == 0 {
		t.Fatal("no active KRaft controller in the nodes' logs")
	}
	if controllerToo {
		if len(leads[controller]) == 0 {
			t.Fatalf("the active controller, node %d, leads no partition under load: %v", controller, leads)
		}
		return controller, leads[controller], controller
	}
	for n := clusterNodes; n >= 1; n-- {
		if n != controller && len(leads[n]) > 0 {
			return n, leads[n], controller
		}
	}
	t.Fatalf("no node but the active controller (node %d) leads a partition under load: %v", controller, leads)
	return 0, nil, 0
}

// leads returns the partitions under load that each node leads.
func (s *clusterSuite) leads(t *testing.T) map[int][]string {
	t.Helper()
	md, err := s.c.metadata(s.loaded, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int][]string{}
	for _, tp := range md.Topics {
		for _, pt := range tp.Partitions {
			out[pt.Leader.ID] = append(out[pt.Leader.ID], partitionName(s.n, tp.Name, pt.ID))
		}
	}
	for _, ps := range out {
		slices.Sort(ps)
	}
	return out
}

// clusterTemplates returns the samples of resources, each in variants
// copies whose uuids (the company ids among them) differ, so that the load
// spreads over every partition as many companies' would; and, for each,
// the partitions its request writes to.
func clusterTemplates(t *testing.T, n topics.Naming, variants int, resources ...string) ([]faultTemplate, []string) {
	t.Helper()
	uuid := regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	parts := make([]int, clusterPartitions)
	for i := range parts {
		parts[i] = i
	}
	var tmpls []faultTemplate
	var lanes []string
	for k := range variants {
		vary := func(s string) string {
			return uuid.ReplaceAllStringFunc(s, func(u string) string { return u[:32] + fmt.Sprintf("%04x", k) })
		}
		for _, b := range faultTemplates(t, resources...) {
			tp := faultTemplate{resource: b.resource, head: vary(b.head), tail: vary(b.tail)}
			ev, err := topics.Normalize([]byte(tp.head+"00000000-0000-4000-8000-000000000000"+tp.tail), n, noCompanyIndex{})
			if err != nil {
				t.Fatalf("a variant of the %s sample: %v", tp.resource, err)
			}
			var lane []string
			for _, r := range ev.Records() {
				p := kafkago.Murmur2Balancer{}.Balance(kafkago.Message{Key: r.Key}, parts...)
				lane = append(lane, partitionName(n, r.Topic, p))
			}
			tmpls = append(tmpls, tp)
			lanes = append(lanes, strings.Join(lane, "+"))
		}
	}
	return tmpls, lanes
}

// partitionName names a partition for the log: "user/3", "index/0".
func partitionName(n topics.Naming, topic string, partition int) string {
	name, _ := n.Name(topic)
	if topic == n.Index() {
		name = "index"
	}
	return fmt.Sprintf("%s/%d", name, partition)
}

// noCompanyIndex knows no company, as the bridge's index does not for new
// entities: Normalize then adds the index update the bridge publishes.
type noCompanyIndex struct{}

func (noCompanyIndex) Company(string, string) (string, bool) { return "", false }

// ---------------------------------------------------------------- /readyz

// readyzWatch polls /readyz every 100 ms until stopped.
type readyzWatch struct {
	quit, done chan struct{}
	start, end time.Time
	polls      int
	slowest    time.Duration
	bad        []string       // the answers other than 200
	kafka      map[string]int // the body's kafka field, by value
	// okSince starts the current run of 200s (zero after another answer);
	// longest is the longest run so far.
	okSince time.Time
	longest time.Duration
}

func watchReadyz(p *faultBridge) *readyzWatch {
	w := &readyzWatch{quit: make(chan struct{}), done: make(chan struct{}), start: time.Now(), kafka: map[string]int{}}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			t0 := time.Now()
			st, body := p.readyz()
			w.slowest = max(w.slowest, time.Since(t0))
			w.polls++
			if st != http.StatusOK {
				w.bad = append(w.bad, fmt.Sprintf("%s after the start: %d %s", t0.Sub(w.start).Round(time.Millisecond), st, strings.TrimSpace(body)))
				w.okSince = time.Time{}
			} else {
				if w.okSince.IsZero() {
					w.okSince = t0
				}
				w.longest = max(w.longest, time.Since(w.okSince))
			}
			var m struct{ Kafka string }
			if json.Unmarshal([]byte(body), &m) == nil {
				w.kafka[m.Kafka[:min(len(m.Kafka), 120)]]++
			}
			select {
			case <-w.quit:
				w.end = time.Now()
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

// stop ends the polling; it may be called more than once.
func (w *readyzWatch) stop() {
	select {
	case <-w.quit:
	default:
		close(w.quit)
	}
	<-w.done
}

// check stops the polling, logs what /readyz answered and fails the test if
// it ever answered anything but 200.
func (w *readyzWatch) check(t *testing.T) {
	t.Helper()
	w.stop()
	var kafkaStates []string
	for _, k := range slices.Sorted(maps.Keys(w.kafka)) {
		kafkaStates = append(kafkaStates, fmt.Sprintf("%q×%d", k, w.kafka[k]))
	}
	t.Logf("/readyz: %d polls over %s, %d of them not 200, 200 for %s at the longest, slowest answer %s; its kafka field: %s",
		w.polls, w.end.Sub(w.start).Round(time.Millisecond), len(w.bad), w.longest.Round(time.Millisecond), w.slowest.Round(time.Millisecond), strings.Join(kafkaStates, ", "))
	if len(w.bad) > 0 {
		t.Errorf("/readyz answered other than 200 %d times while one Kafka node was away, e.g. %s", len(w.bad), strings.Join(w.bad[:min(5, len(w.bad))], "; "))
	}
}

// ---------------------------------------------------------------- the cluster

// faultCluster is a real three-node Kafka cluster started by
// deploy/local/kafka.sh on ports and in a state folder of its own. Node i
// listens for clients on base + (i-1)*clusterPortStep.
type faultCluster struct {
	script string
	state  string
	base   int
	env    []string
}

// startFaultCluster starts a fresh cluster and waits until every node
// answers and sees the three brokers registered. It is stopped when the
// test ends.
func startFaultCluster(t *testing.T) *faultCluster {
	t.Helper()
	script, err := filepath.Abs("../../deploy/local/kafka.sh")
	if err != nil {
		t.Fatal(err)
	}
	// The folder is removed after the cluster is stopped: cleanups run last
	// registered first.
	c := &faultCluster{script: script, state: filepath.Join(t.TempDir(), "kafka"), base: clusterBasePort(t)}
	for _, kv := range os.Environ() {
		// A developer's own KAFKA_* must not change the layout; the jars'
		// version and cache may come from them.
		if !strings.HasPrefix(kv, "KAFKA_") || strings.HasPrefix(kv, "KAFKA_VERSION=") || strings.HasPrefix(kv, "KAFKA_CACHE_DIR=") {
			c.env = append(c.env, kv)
		}
	}
	c.env = append(c.env,
		"KAFKA_STATE_DIR="+c.state,
		"KAFKA_PORT="+strconv.Itoa(c.base),
		"KAFKA_CONTROLLER_PORT="+strconv.Itoa(c.base+1),
		"KAFKA_SASL_PORT="+strconv.Itoa(c.base+2),
		"KAFKA_NODE_PORT_STEP="+strconv.Itoa(clusterPortStep),
		"KAFKA_ADVERTISED_HOST=127.0.0.1",
		"KAFKA_START_TIMEOUT=180",
		"KAFKA_FRESH=0",
	)
	t.Cleanup(func() {
		if t.Failed() {
			for i := 1; i <= clusterNodes; i++ {
				log := filepath.Join(c.state, "node"+strconv.Itoa(i), "kafka.log")
				t.Logf("errors in node %d's log %s:\n%s", i, log, grepLog(log, 10, " ERROR "))
			}
		}
		if _, stderr, err := c.run([]string{"stop"}); err != nil {
			t.Errorf("stop the cluster: %v\n%s", err, stderr)
		}
	})
	t0 := time.Now()
	if _, stderr, err := c.run([]string{"start", "--nodes", strconv.Itoa(clusterNodes)}, "KAFKA_FRESH=1"); err != nil {
		t.Fatalf("kafka.sh start --nodes %d: %v\n%s", clusterNodes, err, stderr)
	}
	t.Logf("%d-node cluster on %s started in %s (state %s)", clusterNodes, strings.Join(c.kafka().Brokers, ","), time.Since(t0).Round(time.Millisecond), c.state)
	return c
}

// clusterBasePort returns a port such that the nine ports of the cluster are
// free, all below Linux's ephemeral range (32768 and up), where a node's own
// outgoing connection could hold a port that another node then fails to bind.
func clusterBasePort(t *testing.T) int {
	t.Helper()
	free := func(base int) bool {
		for i := range clusterNodes {
			for j := range 3 {
				ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(base+i*clusterPortStep+j))
				if err != nil {
					return false
				}
				ln.Close()
			}
		}
		return true
	}
	for range 100 {
		if base := 20000 + rand.IntN(12000); free(base) { // the last port is below 32022
			return base
		}
	}
	t.Fatal("no free ports for the cluster between 20000 and 32768")
	return 0
}

// run runs kafka.sh with args, extra on top of the cluster's environment.
func (c *faultCluster) run(args []string, extra ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.script, args...)
	cmd.Env = append(slices.Clone(c.env), extra...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// node runs `kafka.sh verb node` and returns how long it took.
func (c *faultCluster) node(t *testing.T, verb string, node int) time.Duration {
	t.Helper()
	t0 := time.Now()
	if _, stderr, err := c.run([]string{verb, strconv.Itoa(node)}); err != nil {
		t.Fatalf("kafka.sh %s %d: %v\n%s", verb, node, err, stderr)
	}
	return time.Since(t0)
}

// status returns each node's state as kafka.sh status says: running,
// paused or stopped.
func (c *faultCluster) status(t *testing.T) map[int]string {
	t.Helper()
	stdout, stderr, _ := c.run([]string{"status"}) // exit 1 unless every node runs
	out := map[int]string{}
	for line := range strings.Lines(stdout) {
		if f := strings.Fields(line); len(f) >= 3 {
			if node, err := strconv.Atoi(f[0]); err == nil {
				out[node] = f[2]
			}
		}
	}
	if len(out) != clusterNodes {
		t.Fatalf("kafka.sh status: %q %s", stdout, stderr)
	}
	return out
}

func (c *faultCluster) addr(node int) string {
	return "127.0.0.1:" + strconv.Itoa(c.base+(node-1)*clusterPortStep)
}

// kafka lists every node, as a production configuration would.
func (c *faultCluster) kafka() kafka.Config {
	var brokers []string
	for i := 1; i <= clusterNodes; i++ {
		brokers = append(brokers, c.addr(i))
	}
	return kafka.Config{Brokers: brokers, DialTimeout: 5 * time.Second}
}

// createTopics runs the binary's `topics create` against the cluster with
// the production topic settings: replication 3 and BRIDGE_TOPIC_MIN_INSYNC_REPLICAS
// left at its default.
func (c *faultCluster) createTopics(t *testing.T, bin string, n topics.Naming) {
	t.Helper()
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, envPrefix+"_") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"BRIDGE_KAFKA_BROKERS="+strings.Join(c.kafka().Brokers, ","),
		"BRIDGE_TOPIC_PREFIX="+n.Prefix,
		"BRIDGE_INTERNAL_TOPIC_PREFIX="+n.Internal,
		"BRIDGE_TOPIC_PARTITIONS="+strconv.Itoa(clusterPartitions),
		"BRIDGE_TOPIC_REPLICATION=3",
		"BRIDGE_AUTH_TOKENS="+faultToken,
	)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "topics", "create")
	cmd.Env = env
	t0 := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("topics create: %v\n%s", err, out)
	}
	t.Logf("topics create took %s:\n%s", time.Since(t0).Round(time.Millisecond), out)
}

// metadata asks the nodes in turn, all but skip, for the brokers and names'
// partitions, and returns the first answer. Each request goes over a new
// connection: a kafka-go transport would answer from its cache.
func (c *faultCluster) metadata(names []string, skip int) (*kafkago.MetadataResponse, error) {
	var errs []error
	for node := 1; node <= clusterNodes; node++ {
		if node == skip {
			continue
		}
		md, err := func() (*kafkago.MetadataResponse, error) {
			tr := &kafkago.Transport{DialTimeout: 2 * time.Second}
			defer tr.CloseIdleConnections()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			cl := &kafkago.Client{Addr: kafkago.TCP(c.addr(node)), Timeout: 3 * time.Second, Transport: tr}
			return cl.Metadata(ctx, &kafkago.MetadataRequest{Topics: names})
		}()
		if err == nil {
			return md, nil
		}
		errs = append(errs, fmt.Errorf("node %d: %w", node, err))
	}
	return nil, errors.Join(errs...)
}

// clusterHealth returns nil when md names the three brokers and every partition of
// names has a leader and three in-sync replicas.
func clusterHealth(md *kafkago.MetadataResponse, names []string) error {
	var ids []int
	for _, b := range md.Brokers {
		ids = append(ids, b.ID)
	}
	slices.Sort(ids)
	if len(ids) != clusterNodes {
		return fmt.Errorf("brokers %v", ids)
	}
	seen := map[string]bool{}
	var short []string
	for _, tp := range md.Topics {
		if tp.Error != nil || len(tp.Partitions) == 0 {
			return fmt.Errorf("%s: %v", tp.Name, tp.Error)
		}
		seen[tp.Name] = true
		for _, pt := range tp.Partitions {
			if pt.Error != nil || pt.Leader.Host == "" || len(pt.Isr) < clusterNodes {
				var isr []int
				for _, b := range pt.Isr {
					isr = append(isr, b.ID)
				}
				short = append(short, fmt.Sprintf("%s/%d (leader %d, isr %v, %v)", tp.Name, pt.ID, pt.Leader.ID, isr, pt.Error))
			}
		}
	}
	for _, n := range names {
		if !seen[n] {
			return fmt.Errorf("%s: missing", n)
		}
	}
	if len(short) > 0 {
		return fmt.Errorf("%d partitions without a leader or 3 in-sync replicas, e.g. %s", len(short), strings.Join(short[:min(3, len(short))], ", "))
	}
	return nil
}

// waitHealthy waits until three brokers are registered and every partition
// of names has a leader and three in-sync replicas: kafka.sh start waits
// for a node's registration, not for its replicas to catch up.
func (c *faultCluster) waitHealthy(t *testing.T, names []string, within time.Duration) time.Duration {
	t.Helper()
	var last error
	start := time.Now()
	for {
		md, err := c.metadata(names, 0)
		if err == nil {
			err = clusterHealth(md, names)
		}
		if err == nil {
			return time.Since(start)
		}
		last = err
		if time.Since(start) > within {
			t.Fatalf("the cluster is not healthy after %s: %v", within, last)
		}
		time.Sleep(100 * time.Millisecond) // polling the cluster's metadata
	}
}

// waitLeadersOff waits until no partition of names is led by node, as the
// other nodes see it, and returns how long that took.
func (c *faultCluster) waitLeadersOff(t *testing.T, names []string, node int, within time.Duration) time.Duration {
	t.Helper()
	return faultWaitFor(t, within, fmt.Sprintf("new leaders for node %d's partitions", node), func() bool {
		md, err := c.metadata(names, node)
		if err != nil {
			return false
		}
		for _, tp := range md.Topics {
			for _, pt := range tp.Partitions {
				if pt.Leader.ID == node || pt.Leader.Host == "" {
					return false
				}
			}
		}
		return true
	})
}

// electPreferred moves the leadership of every partition of names back to
// its preferred replica (what Kafka's auto.leader.rebalance does, but only
// every 5 minutes), and waits until it is there.
func (c *faultCluster) electPreferred(t *testing.T, names []string) {
	t.Helper()
	tr := &kafkago.Transport{DialTimeout: 2 * time.Second}
	defer tr.CloseIdleConnections()
	cl := &kafkago.Client{Addr: kafkago.TCP(c.kafka().Brokers...), Timeout: 30 * time.Second, Transport: tr}
	parts := make([]int, clusterPartitions)
	for i := range parts {
		parts[i] = i
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, name := range names {
		res, err := cl.ElectLeaders(ctx, &kafkago.ElectLeadersRequest{Topic: name, Partitions: parts, Timeout: 20 * time.Second})
		if err != nil {
			t.Fatalf("elect the preferred leaders of %s: %v", name, err)
		}
		if res.Error != nil {
			t.Fatalf("elect the preferred leaders of %s: %v", name, res.Error)
		}
		// A partition already led by its preferred replica answers
		// ELECTION_NOT_NEEDED; the wait below checks the outcome.
	}
	faultWaitFor(t, 30*time.Second, "every partition led by its preferred replica", func() bool {
		md, err := c.metadata(names, 0)
		if err != nil {
			return false
		}
		for _, tp := range md.Topics {
			for _, pt := range tp.Partitions {
				if len(pt.Replicas) == 0 || pt.Leader.ID != pt.Replicas[0].ID {
					return false
				}
			}
		}
		return true
	})
}

// grepLog returns the last n lines of the file at path that contain one of
// words.
func grepLog(path string, n int, words ...string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	var out []string
	for line := range strings.Lines(string(b)) {
		for _, w := range words {
			if strings.Contains(line, w) {
				out = append(out, strings.TrimRight(line, "\n"))
				break
			}
		}
	}
	return strings.Join(out[max(0, len(out)-n):], "\n")
}

// The nodes' log lines that tell the Raft (controller) state, and that a
// broker was fenced.
var (
	raftTransition = regexp.MustCompile(`^\[([0-9-]+ [0-9:,]+)\] INFO \[RaftManager id=(\d+)\] Completed transition to (Leader|FollowerState)\(.*?epoch=(\d+)(?:, leader=(\d+))?`)
	brokerFenced   = regexp.MustCompile(`^\[([0-9-]+ [0-9:,]+)\] INFO \[QuorumController id=\d+\] Replayed BrokerRegistrationChangeRecord modifying the registration for broker (\d+): BrokerRegistrationChangeRecord\(brokerId=\d+, brokerEpoch=\d+, fenced=1,`)
)

// nodeLogLines returns the lines of every node's log, the one before its
// last start included.
func (c *faultCluster) nodeLogLines() []string {
	var out []string
	for i := 1; i <= clusterNodes; i++ {
		for _, f := range []string{"kafka.log.1", "kafka.log"} {
			if b, err := os.ReadFile(filepath.Join(c.state, "node"+strconv.Itoa(i), f)); err == nil {
				out = append(out, strings.Split(string(b), "\n")...)
			}
		}
	}
	return out
}

// controller returns the active KRaft controller as the nodes' logs tell
// it: the leader of the highest Raft epoch (0 if none is logged).
func (c *faultCluster) controller() int {
	epoch, leader := -1, 0
	for _, line := range c.nodeLogLines() {
		m := raftTransition.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		e, _ := strconv.Atoi(m[4])
		l := m[2]
		if m[3] == "FollowerState" {
			l = m[5]
		}
		if n, err := strconv.Atoi(l); err == nil && e > epoch {
			epoch, leader = e, n
		}
	}
	return leader
}

// fencedAfter returns when a controller first logged node as fenced after
// since.
func (c *faultCluster) fencedAfter(node int, since time.Time) (time.Time, bool) {
	var first time.Time
	for _, line := range c.nodeLogLines() {
		m := brokerFenced.FindStringSubmatch(line)
		if m == nil || m[2] != strconv.Itoa(node) {
			continue
		}
		at, err := time.ParseInLocation("2006-01-02 15:04:05,000", m[1], time.Local)
		if err == nil && at.After(since) && (first.IsZero() || at.Before(first)) {
			first = at
		}
	}
	return first, !first.IsZero()
}
