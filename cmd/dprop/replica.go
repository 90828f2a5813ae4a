package main

import (
	"fmt"

	"github.com/dprop/dprop/broker"
	"github.com/spf13/cobra"
)

func newReplicaCmd(g *globals) *cobra.Command {
	var (
		conn broker.ConnConfig
		sc   sidecarFlags
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
			conn.RetryOnFailedConnect = true
			if conn.Name == "" {
				conn.Name = "dprop replica"
			}
			nc, err := broker.Connect(conn, log)
			if err != nil {
				return err
			}
			defer nc.Close()
			if err := ensureStream(ctx, nc, sc.prefix, sc.stream, sc.streamReplicas); err != nil {
				log.Warn("cannot check the stream yet; the replica will wait for it", "err", err)
			}
			s, err := startSidecar(ctx, log, nc, sc)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "dprop replica of %q: HTTP API on http://%s\n", cellsOrAll(sc.cells), s.addr)
			return s.wait(ctx)
		},
	}
	fl := cmd.Flags()
	fl.StringSliceVar(&conn.URLs, "nats-url", []string{broker.DefaultURL}, "NATS server URLs, comma-separated")
	fl.StringVar(&conn.CredsFile, "creds", "", "NATS credentials file (user JWT and NKey seed)")
	fl.StringVar(&conn.NKeyFile, "nkey", "", "file holding a user NKey seed")
	fl.StringVar(&conn.User, "user", "", "NATS user")
	fl.StringVar(&conn.Password, "password", "", "NATS password")
	fl.StringVar(&conn.Token, "token", "", "NATS authorization token")
	fl.StringVar(&conn.CAFile, "tlsca", "", "PEM file of CAs trusted to sign the server's certificate")
	fl.StringVar(&conn.CertFile, "tlscert", "", "client certificate (PEM), for servers that verify clients")
	fl.StringVar(&conn.KeyFile, "tlskey", "", "client certificate's key (PEM)")
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
