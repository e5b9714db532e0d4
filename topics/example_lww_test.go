package topics_test

import (
	"fmt"
	"time"

	"github.com/webhook-bridge/webhook-bridge/topics"
)

// rank orders the actions of one millisecond: a removal wins over a change,
// a change over an addition.
var rank = map[topics.Action]int{topics.Added: 0, topics.Changed: 1, topics.Removed: 2}

// eventTime is the marketplace's timestamp in epoch milliseconds (the
// event-time header, the time attribute), -1 when the webhook had none: an
// event without time is older than any event with one.
func eventTime(ev topics.Event) int64 {
	if ev.Time.IsZero() {
		return -1
	}
	return ev.Time.UnixMilli()
}

// after reports whether ev should replace cur as its entity's state: a later
// event time, then the action's rank, then the larger event id. A redelivery
// (the same id) is not after itself.
func after(ev, cur topics.Event) bool {
	if a, b := eventTime(ev), eventTime(cur); a != b {
		return a > b
	}
	if rank[ev.Action] != rank[cur.Action] {
		return rank[ev.Action] > rank[cur.Action]
	}
	return ev.ID > cur.ID
}

// Last writer wins: a consumer keeps the current state of each entity,
// keyed by resource and subject, from a topic where the marketplace's
// retries deliver older events after newer ones. A removal stays as the
// entity's state, so that an older change retried later cannot bring the
// entity back.
func Example_lastWriterWins() {
	at := func(s string) time.Time { t, _ := time.Parse(time.RFC3339, s); return t }
	arrivals := []topics.Event{
		{ID: "e1", Resource: "subscription", Subject: "s-1", Action: topics.Added, Time: at("2024-06-10T16:00:00Z")},
		{ID: "e3", Resource: "subscription", Subject: "s-1", Action: topics.Changed, Time: at("2024-06-10T18:00:00Z")},
		{ID: "e2", Resource: "subscription", Subject: "s-1", Action: topics.Changed, Time: at("2024-06-10T17:00:00Z")}, // retried hours later
		{ID: "e3", Resource: "subscription", Subject: "s-1", Action: topics.Changed, Time: at("2024-06-10T18:00:00Z")}, // redelivered
		{ID: "e4", Resource: "subscription", Subject: "s-1", Action: topics.Removed},                                   // no timestamp
		{ID: "e5", Resource: "subscription", Subject: "s-1", Action: topics.Removed, Time: at("2024-06-10T18:00:00Z")}, // same millisecond as e3
		{ID: "e6", Resource: "subscription", Action: topics.Changed, Time: at("2024-06-10T19:00:00Z")},                 // no subject
	}
	state := map[[2]string]topics.Event{}
	for _, ev := range arrivals {
		if ev.Subject == "" {
			fmt.Println(ev.ID, "set aside: no subject, so no entity")
			continue
		}
		k := [2]string{ev.Resource, ev.Subject}
		if cur, ok := state[k]; ok && !after(ev, cur) {
			fmt.Println(ev.ID, "ignored: not after", cur.ID)
			continue
		}
		state[k] = ev
		fmt.Println(ev.ID, "applied:", ev.Action)
	}
	// Output:
	// e1 applied: added
	// e3 applied: changed
	// e2 ignored: not after e3
	// e3 ignored: not after e3
	// e4 ignored: not after e3
	// e5 applied: removed
	// e6 set aside: no subject, so no entity
}
