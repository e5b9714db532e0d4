package kafka_test

import (
	"fmt"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/webhook-bridge/webhook-bridge/topics"
	"github.com/webhook-bridge/webhook-bridge/topics/kafka"
)

// removedSubscription is a record of appdirect.subscription as the bridge
// writes it: the REMOVED event of a subscription, keyed by the company the
// company index remembered from its ADDED event.
var removedSubscription = kafkago.Message{
	Topic: "appdirect.subscription",
	Key:   []byte("c1b2a3d4-e5f6-4789-a0b1-c2d3e4f5a6b7"),
	Headers: []kafkago.Header{
		{Key: "resource", Value: []byte("subscription")},
		{Key: "action", Value: []byte("removed")},
		{Key: "event-id", Value: []byte("d45f615a-266c-4fea-8f91-eb95f7569c6e")},
		{Key: "company-id", Value: []byte("c1b2a3d4-e5f6-4789-a0b1-c2d3e4f5a6b7")},
		{Key: "company-ids", Value: []byte("c1b2a3d4-e5f6-4789-a0b1-c2d3e4f5a6b7")},
		{Key: "company-id-source", Value: []byte("index")},
		{Key: "content-type", Value: []byte("application/cloudevents+json")},
	},
	Value: []byte(`{"specversion":"1.0","id":"d45f615a-266c-4fea-8f91-eb95f7569c6e",` +
		`"source":"https://acme.byappdirect.com","type":"com.appdirect.subscription.removed",` +
		`"subject":"5f0e2c8a-3b71-4d2e-8c90-6a1b7e3f4d21","time":"2024-06-12T04:52:15.310Z",` +
		`"datacontenttype":"application/json","companyid":"c1b2a3d4-e5f6-4789-a0b1-c2d3e4f5a6b7",` +
		`"data":{"uuid":"d45f615a-266c-4fea-8f91-eb95f7569c6e","timestamp":1718167935310,` +
		`"resource":{"type":"SUBSCRIPTION","uuid":"5f0e2c8a-3b71-4d2e-8c90-6a1b7e3f4d21",` +
		`"url":"https://acme.byappdirect.com/api/billing/v1/subscriptions/5f0e2c8a-3b71-4d2e-8c90-6a1b7e3f4d21"},` +
		`"resourceAction":"REMOVED"}}`),
}

// addedSubscription is the ADDED event of the same subscription.
var addedSubscription = kafkago.Message{
	Topic: "appdirect.subscription",
	Key:   []byte("c1b2a3d4-e5f6-4789-a0b1-c2d3e4f5a6b7"),
	Headers: []kafkago.Header{
		{Key: "resource", Value: []byte("subscription")},
		{Key: "action", Value: []byte("added")},
		{Key: "event-id", Value: []byte("7d3c1a52-0b8e-4f61-9a7e-2f5c8e4b1d09")},
		{Key: "company-id", Value: []byte("c1b2a3d4-e5f6-4789-a0b1-c2d3e4f5a6b7")},
		{Key: "company-ids", Value: []byte("c1b2a3d4-e5f6-4789-a0b1-c2d3e4f5a6b7")},
		{Key: "company-id-source", Value: []byte("payload")},
		{Key: "content-type", Value: []byte("application/cloudevents+json")},
	},
	Value: []byte(`{"specversion":"1.0","id":"7d3c1a52-0b8e-4f61-9a7e-2f5c8e4b1d09",` +
		`"source":"https://acme.byappdirect.com","type":"com.appdirect.subscription.added",` +
		`"subject":"5f0e2c8a-3b71-4d2e-8c90-6a1b7e3f4d21","time":"2024-06-10T16:00:00.123Z",` +
		`"datacontenttype":"application/json","companyid":"c1b2a3d4-e5f6-4789-a0b1-c2d3e4f5a6b7",` +
		`"data":{"uuid":"7d3c1a52-0b8e-4f61-9a7e-2f5c8e4b1d09","timestamp":1718035200123,` +
		`"resource":{"type":"SUBSCRIPTION","uuid":"5f0e2c8a-3b71-4d2e-8c90-6a1b7e3f4d21",` +
		`"url":"https://acme.byappdirect.com/api/billing/v1/subscriptions/5f0e2c8a-3b71-4d2e-8c90-6a1b7e3f4d21",` +
		`"content":{"id":"5f0e2c8a-3b71-4d2e-8c90-6a1b7e3f4d21","status":"ACTIVE",` +
		`"order":{"id":"4410021","company":{"id":"c1b2a3d4-e5f6-4789-a0b1-c2d3e4f5a6b7"}}}},` +
		`"resourceAction":"ADDED"}}`),
}

// Decode turns a record read from a resource topic (here built by hand; in
// a consumer, what kafkago.Reader.ReadMessage returned) into its CloudEvents
// attributes, its company and the original webhook.
func ExampleDecode() {
	ev, err := kafka.Decode(removedSubscription)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("id:     ", ev.ID)
	fmt.Println("type:   ", ev.Type)
	fmt.Println("subject:", ev.Subject)
	fmt.Println("time:   ", ev.Time)
	fmt.Println("about:  ", ev.Resource, ev.Action)
	fmt.Println("company:", ev.CompanyID, "from the", ev.CompanyIDSource)
	fmt.Println("webhook:", ev.Webhook.Type, ev.Webhook.Action, ev.Webhook.ResourceUUID, "content:", ev.Webhook.Content != nil)
	fmt.Printf("data:    %.40s…\n", ev.Data)
	// Output:
	// id:      d45f615a-266c-4fea-8f91-eb95f7569c6e
	// type:    com.appdirect.subscription.removed
	// subject: 5f0e2c8a-3b71-4d2e-8c90-6a1b7e3f4d21
	// time:    2024-06-12 04:52:15.31 +0000 UTC
	// about:   subscription removed
	// company: c1b2a3d4-e5f6-4789-a0b1-c2d3e4f5a6b7 from the index
	// webhook: SUBSCRIPTION REMOVED 5f0e2c8a-3b71-4d2e-8c90-6a1b7e3f4d21 content: false
	// data:    {"uuid":"d45f615a-266c-4fea-8f91-eb95f75…
}

// A consumer of one resource reads one topic and keeps one action by
// looking at the headers only, decoding nothing else. With a real broker the
// messages come from a reader such as
//
//	r := kafkago.NewReader(kafkago.ReaderConfig{
//		Brokers: []string{"kafka:9092"},
//		GroupID: "billing-cancellations",
//		Topic:   topics.Naming{Prefix: "appdirect."}.Topic("subscription"),
//	})
//	for { m, err := r.ReadMessage(ctx); … }
func ExampleTailOptions_Matches() {
	removedOnly := kafka.TailOptions{Action: "removed"}
	for _, m := range []kafkago.Message{addedSubscription, removedSubscription} {
		action, _ := topics.HeaderValue(kafka.Headers(m.Headers), topics.HeaderAction)
		if !removedOnly.Matches(m.Headers) {
			fmt.Println("skip", action)
			continue
		}
		company, _ := topics.HeaderValue(kafka.Headers(m.Headers), topics.HeaderCompanyID)
		fmt.Println("handle", action, "of company", company, "in partition of key", string(m.Key))
	}
	// Output:
	// skip added
	// handle removed of company c1b2a3d4-e5f6-4789-a0b1-c2d3e4f5a6b7 in partition of key c1b2a3d4-e5f6-4789-a0b1-c2d3e4f5a6b7
}

// HeaderValue reads one header; events of one company share the key and
// so the partition, in order.
func ExampleHeaderValue() {
	for _, m := range []kafkago.Message{addedSubscription, removedSubscription} {
		action, _ := topics.HeaderValue(kafka.Headers(m.Headers), topics.HeaderAction)
		source, _ := topics.HeaderValue(kafka.Headers(m.Headers), topics.HeaderCompanyIDSource)
		fmt.Printf("%s key=%s company-id-source=%s\n", action, m.Key, source)
	}
	// Output:
	// added key=c1b2a3d4-e5f6-4789-a0b1-c2d3e4f5a6b7 company-id-source=payload
	// removed key=c1b2a3d4-e5f6-4789-a0b1-c2d3e4f5a6b7 company-id-source=index
}
