package kafka_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/webhook-bridge/webhook-bridge/topics"
	"github.com/webhook-bridge/webhook-bridge/topics/kafka"
	"github.com/webhook-bridge/webhook-bridge/topics/kafka/kafkatest"
)

// The SASL listener of the test broker, as `deploy/local/kafka.sh env`
// exports it.
const (
	envSASLBrokers  = "BRIDGE_TEST_KAFKA_SASL_BROKERS"
	envSASLUser     = "BRIDGE_TEST_KAFKA_SASL_USER"
	envSASLPassword = "BRIDGE_TEST_KAFKA_SASL_PASSWORD"
)

// saslMechanisms are the mechanisms the bridge supports.
var saslMechanisms = []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}

// saslBroker is a broker that requires SASL for every connection.
type saslBroker struct {
	brokers        []string
	user, password string
	// plain reaches the same cluster without authentication, when it has
	// such a listener (the real broker does, kfake with SASL does not).
	plain *kafka.Config
	// answersAuthFailures: the broker answers a failed authentication with
	// SASL error 58 and a reason, as Apache Kafka does. kfake closes the
	// connection instead, so a client sees only "unexpected EOF".
	answersAuthFailures bool
}

func (b saslBroker) config(mechanism, password string) kafka.Config {
	return kafka.Config{Brokers: b.brokers, DialTimeout: 5 * time.Second, SASLMechanism: mechanism, SASLUsername: b.user, SASLPassword: password}
}

// saslKafka returns the SASL listener of the real test broker, else (not
// under CI) an in-process kfake broker with SASL and one user for every
// mechanism.
func saslKafka(t *testing.T) saslBroker {
	t.Helper()
	if v := os.Getenv(envSASLBrokers); v != "" {
		b := saslBroker{brokers: strings.Split(v, ","), user: os.Getenv(envSASLUser), password: os.Getenv(envSASLPassword), answersAuthFailures: true}
		if b.user == "" || b.password == "" {
			t.Fatalf("%s is set but %s or %s is not: eval \"$(deploy/local/kafka.sh env)\"", envSASLBrokers, envSASLUser, envSASLPassword)
		}
		if p := os.Getenv(kafkatest.EnvBrokers); p != "" {
			b.plain = &kafka.Config{Brokers: strings.Split(p, ","), DialTimeout: 5 * time.Second}
		}
		return b
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not set: under CI=true the Kafka SASL tests need the real broker's SASL listener. "+
			"Start it with `deploy/local/kafka.sh start` and export its settings with `eval \"$(deploy/local/kafka.sh env)\"`", envSASLBrokers)
	}
	const user, password = "bridge-test", "kfake-sasl-password-5e2d"
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.EnableSASL()}
	for _, m := range saslMechanisms {
		opts = append(opts, kfake.Superuser(m, user, password))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("start in-process broker with SASL: %v", err)
	}
	t.Cleanup(c.Close)
	return saslBroker{brokers: c.ListenAddrs(), user: user, password: password}
}

// readBack is what the test compares of a record read back.
type readBack struct {
	Topic, Key, Value, EventID string
}

func TestKafkaSASLProvisionPublishAndRead(t *testing.T) {
	b := saslKafka(t)
	for _, mech := range saslMechanisms {
		t.Run(mech, func(t *testing.T) {
			kc := b.config(mech, b.password)
			n := kafkatest.Naming(t)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()

			admin, err := kafka.NewAdmin(kc, 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			states, err := admin.Create(ctx, n.All(), kafka.TopicSpec{Partitions: 1, ReplicationFactor: 1})
			if err != nil {
				t.Fatalf("create topics over SASL %s: %v", mech, err)
			}
			var wantStates, gotStates []string
			for _, name := range n.All() {
				wantStates = append(wantStates, name+" created")
			}
			for _, s := range states {
				gotStates = append(gotStates, s.Topic+" "+s.Status)
			}
			if diff := cmp.Diff(wantStates, gotStates); diff != "" {
				t.Errorf("topics create (-want +got):\n%s", diff)
			}
			for {
				err := admin.Check(ctx, n.All())
				if err == nil {
					break
				}
				if ctx.Err() != nil {
					t.Fatalf("topics not ready over SASL %s: %v", mech, err)
				}
				select {
				case <-ctx.Done():
				case <-time.After(50 * time.Millisecond):
				}
			}

			w, err := kafka.NewWriter(kafkatest.Writer(kc), zerolog.Nop())
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			want := readBack{
				Topic: n.Topic("subscription"), Key: "company-" + mech,
				Value: `{"mechanism":"` + mech + `"}`, EventID: "evt-sasl-" + mech,
			}
			rec := topics.Record{
				Topic: want.Topic, Key: []byte(want.Key), Value: []byte(want.Value),
				Headers: []topics.Header{{Key: topics.HeaderEventID, Value: []byte(want.EventID)}},
			}
			if err := w.Publish(ctx, rec); err != nil {
				t.Fatalf("publish over SASL %s: %v", mech, err)
			}

			// Read it back over SASL, as `webhook-bridge tail` does.
			var out bytes.Buffer
			tctx, tcancel := context.WithTimeout(ctx, 30*time.Second)
			defer tcancel()
			if err := kafka.Tail(tctx, kafka.TailOptions{Kafka: kc, Topics: []string{want.Topic}, FromBeginning: true, Limit: 1}, &out); err != nil {
				t.Fatalf("tail over SASL %s: %v", mech, err)
			}
			var line kafka.TailLine
			if err := json.Unmarshal(out.Bytes(), &line); err != nil {
				t.Fatalf("tail over SASL %s printed %q: %v", mech, out.String(), err)
			}
			got := readBack{Topic: line.Topic, Key: line.Key, Value: string(line.Value), EventID: line.Headers[topics.HeaderEventID]}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("record read back over SASL (-want +got):\n%s", diff)
			}

			// And without authentication through the same cluster's
			// plaintext listener, when it has one.
			if b.plain != nil {
				msgs := kafkatest.ReadAll(t, *b.plain, want.Topic, 30*time.Second)
				var gotPlain []readBack
				for _, m := range msgs {
					gotPlain = append(gotPlain, readBack{Topic: m.Topic, Key: string(m.Key), Value: string(m.Value), EventID: kafkatest.Header(m, topics.HeaderEventID)})
				}
				if diff := cmp.Diff([]readBack{want}, gotPlain); diff != "" {
					t.Errorf("records read back over PLAINTEXT (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestKafkaSASLWrongPasswordIsAClearNotReady(t *testing.T) {
	b := saslKafka(t)
	if !b.answersAuthFailures {
		t.Log("kfake closes the connection on a failed SASL authentication; the reason is checked against the real broker only")
	}
	const wrong = "wrong-sasl-password-d41c"
	for _, mech := range saslMechanisms {
		t.Run(mech, func(t *testing.T) {
			kc := b.config(mech, wrong)
			names := kafkatest.Naming(t).All()
			admin, err := kafka.NewAdmin(kc, 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()

			// clear reports whether err says authentication failed, without
			// either password.
			clear := func(what string, err error) {
				t.Helper()
				if err == nil {
					t.Fatalf("%s with a wrong password: nil error", what)
				}
				msg := err.Error()
				if b.answersAuthFailures && (!strings.Contains(msg, "SASL") || !strings.Contains(strings.ToLower(msg), "authentication")) {
					t.Errorf("%s with a wrong password: %q, want a reason saying SASL authentication failed", what, msg)
				}
				for _, s := range []string{wrong, b.password} {
					if strings.Contains(msg, s) {
						t.Errorf("%s error %q holds a password", what, msg)
					}
				}
			}
			clear("Admin.Check", admin.Check(ctx, names))

			var logs strings.Builder // CheckNow logs before it returns, on this goroutine
			h := kafka.NewHealth(admin, names, time.Second, zerolog.New(&logs))
			clear("Health.CheckNow", h.CheckNow(ctx))
			clear("Health.Err", h.Err())
			if !strings.Contains(logs.String(), "kafka not ready") || (b.answersAuthFailures && !strings.Contains(logs.String(), "SASL Authentication")) {
				t.Errorf("health log does not report the SASL failure:\n%s", logs.String())
			}
			if strings.Contains(logs.String(), wrong) || strings.Contains(logs.String(), b.password) {
				t.Errorf("health log holds a password:\n%s", logs.String())
			}

			w, err := kafka.NewWriter(kafkatest.Writer(kc), zerolog.Nop())
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			err = w.Publish(ctx, topics.Record{Topic: names[0], Key: []byte("k"), Value: []byte("{}")})
			clear("Writer.Publish", err)
		})
	}
}
