package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"
)

func newReplicaCmd(g *globals) *cobra.Command {
	var (
		nf   natsFlags
		sc   sidecarFlags
		data string
	)
	cmd := &cobra.Command{
		Use:   "replica",
		Short: "Run a sidecar replica and its HTTP API against any NATS server or cluster",
		Long: `Run a replica of some or all cells (--cells) next to an application, with
the HTTP API the application uses. It connects to any NATS server or
cluster with JetStream; if the stream does not exist yet it creates it
with --stream-replicas copies, and otherwise uses it as it is.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if sc.cells != "" && sc.cells != ">" {
				if err := validatePattern(sc.cells); err != nil {
					return usagef("--cells: %v", err)
				}
			}
			if data != "" {
				sc.snapshot = filepath.Join(data, "snapshot.jsonl")
				sc.outbox = filepath.Join(data, "outbox.log")
				sc.writerDir = data
			}
			ln, err := sc.listen(log)
			if err != nil {
				return err
			}
			defer ln.Close() // for the early returns; the API's server owns it once serving
			nc, err := nf.connect(log, "dprop replica", true)
			if err != nil {
				return err
			}
			defer nc.Close()
			sc.watch = nf.conn.Watch
			if err := sc.ensureStream(ctx, nc); err != nil {
				if ctx.Err() != nil {
					return interrupted(ctx, log, err)
				}
				log.Warn("cannot check the stream yet; the replica will wait for it", "err", err)
			}
			s, err := startSidecar(ctx, log, nc, ln, sc)
			if err != nil {
				return interrupted(ctx, log, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "dprop replica of %q: HTTP API on %s\n", cellsOrAll(sc.cells), s.url)
			return s.wait(ctx)
		},
	}
	nf.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&data, "data", "", "directory of the replica's local snapshot and outbox (none by default: a restart replays the whole log, and refines fail while the log is unreachable)")
	fl.StringVar(&sc.cells, "cells", ">", `cells to hold: a name pattern such as "weather.>"`)
	fl.IntVar(&sc.streamReplicas, "stream-replicas", 1, "copies of the stream if this replica has to create it: 1 or 3")
	sc.register(cmd)
	return cmd
}

func cellsOrAll(p string) string {
	if p == "" {
		return ">"
	}
	return p
}
