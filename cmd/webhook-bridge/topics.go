package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/webhook-bridge/webhook-bridge/topics"
	"github.com/webhook-bridge/webhook-bridge/topics/kafka"
)

// topicsCmd runs `topics create` and `topics list`.
func topicsCmd(ctx context.Context, cfg Config, args []string, stdout io.Writer) error {
	if len(args) != 1 || (args[0] != "create" && args[0] != "list") {
		return fmt.Errorf("usage: webhook-bridge topics create|list")
	}
	kc, err := cfg.kafka()
	if err != nil {
		return err
	}
	admin, err := kafka.NewAdmin(kc, cfg.KafkaAdminTimeout)
	if err != nil {
		return err
	}
	defer admin.Close()
	names := cfg.naming().All()
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	if args[0] == "list" {
		infos, err := admin.Describe(ctx, names)
		if err != nil {
			return err
		}
		fmt.Fprintln(tw, "TOPIC\tPARTITIONS\tREPLICATION\tMIN.INSYNC.REPLICAS\tCLEANUP.POLICY\tSTATUS")
		missing := 0
		for _, n := range names {
			if i, ok := infos[n]; ok {
				fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\tok\n", n, i.Partitions, i.ReplicationFactor, i.MinInSyncReplicas, i.CleanupPolicy)
			} else {
				missing++
				fmt.Fprintf(tw, "%s\t-\t-\t-\t-\tmissing\n", n)
			}
		}
		if missing > 0 {
			tw.Flush()
			return fmt.Errorf("%d topics missing: run `webhook-bridge topics create`", missing)
		}
		return nil
	}
	spec := cfg.topicSpec()
	spec.Compacted = cfg.naming().Compacted()
	states, err := admin.Create(ctx, names, spec)
	fmt.Fprintln(tw, "TOPIC\tPARTITIONS\tSTATUS\tDETAIL")
	for _, s := range states {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", s.Topic, s.Partitions, s.Status, s.Detail)
	}
	return err
}

// tailFlags declares tail's flags, --help's list included.
func tailFlags(stderr io.Writer) (*flag.FlagSet, *kafka.TailOptions, *bool) {
	o := &kafka.TailOptions{}
	fs := flag.NewFlagSet("tail", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.Resource, "resource", "", "read only this resource's topic (e.g. subscription)")
	fs.StringVar(&o.Action, "action", "", "only records with this action: added, changed or removed")
	fs.StringVar(&o.Company, "company", "", "only records of this company id")
	fs.BoolVar(&o.FromBeginning, "from-beginning", false, "start at the oldest record instead of new ones only")
	fs.IntVar(&o.Limit, "limit", 0, "exit after printing this many records (0: run until interrupted)")
	quarantine := fs.Bool("quarantine", false, "read the quarantine topic instead of the resource topics")
	return fs, o, quarantine
}

// tailCmd runs `tail`.
func tailCmd(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) error {
	fs, o, quarantine := tailFlags(stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *quarantine && (o.Resource != "" || o.Action != "" || o.Company != "") {
		// It would wait for ever and print nothing.
		return errors.New("tail --quarantine: the quarantine's records carry no resource, action or company headers, so --resource, --action and --company cannot match; filter its JSON lines instead")
	}
	kc, err := cfg.kafka()
	if err != nil {
		return err
	}
	o.Kafka = kc
	n := cfg.naming()
	switch {
	case *quarantine:
		o.Topics = []string{n.Quarantine()}
	case o.Resource != "":
		if _, ok := topics.ByName(o.Resource); !ok {
			return fmt.Errorf("unknown resource %q; resources: %v", o.Resource, topics.Names())
		}
		o.Topics = []string{n.Topic(o.Resource)}
	default:
		for _, r := range topics.Names() {
			o.Topics = append(o.Topics, n.Topic(r))
		}
	}
	return kafka.Tail(ctx, *o, stdout)
}
