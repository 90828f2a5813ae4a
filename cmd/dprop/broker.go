package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/dprop/dprop/broker"
	"github.com/dprop/dprop/cellname"
)

func newBrokerCmd(g *globals) *cobra.Command {
	var (
		cfg                  broker.Config
		sc                   broker.StreamConfig
		replicas             int
		mem, store, maxBytes byteSize
	)
	cmd := &cobra.Command{
		Use:   "broker",
		Short: "Run a broker node alone (for sidecar deployments and clusters)",
		Long: `Run one NATS server with JetStream that keeps the update log, alone or as
a member of a cluster (give --cluster and --routes; three nodes with
--stream-replicas 3 keep three copies of the log). The node provisions the stream
once the cluster can hold it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger()
			if err != nil {
				return err
			}
			if replicas != 1 && replicas != 3 {
				return usagef("--stream-replicas %d: use 1 or 3", replicas)
			}
			sc.Replicas = replicas
			if err := checkStreamFits(maxBytes, store); err != nil {
				return err
			}
			cfg.JetStreamMaxMemory, cfg.JetStreamMaxStore, sc.MaxBytes = int64(mem), int64(store), int64(maxBytes)
			cfg.Logger = log.With("component", "broker")
			srv, err := broker.Start(cfg)
			if err != nil {
				return brokerError(err, map[string]string{
					broker.ListenerClient: "--nats-listen", broker.ListenerCluster: "--cluster", broker.ListenerMonitor: "--monitor"})
			}
			defer srv.Shutdown()
			log.Info("broker running", "nats", srv.ClientURL(), "name", srv.Name(), "store", cfg.StoreDir)
			ctx := cmd.Context()
			go provisionWhenPossible(ctx, log, srv, sc)
			<-ctx.Done()
			log.Info("shutting down")
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&cfg.StoreDir, "data", defaultData, "data directory of the JetStream store")
	fl.StringVar(&cfg.Listen, "nats-listen", "", "host:port to listen on for NATS clients (default "+broker.DefaultListen+", or the config file's)")
	fl.StringVar(&cfg.ServerName, "name", "", "server name, unique in a cluster (default: made once and kept in the data directory)")
	fl.StringVar(&cfg.Cluster.Name, "cluster-name", "", "cluster name (default "+broker.DefaultClusterName+" when --cluster is set)")
	fl.StringVar(&cfg.Cluster.Listen, "cluster", "", "cluster address host:port; setting it makes the node a cluster member")
	fl.StringSliceVar(&cfg.Cluster.Routes, "routes", nil, "routes to the other members, nats-route://host:port,...")
	fl.IntVar(&replicas, "stream-replicas", 1, "copies of the stream the cluster keeps: 1 or 3")
	fl.StringVar(&cfg.ConfigFile, "config", "", "nats-server configuration file (accounts, users, permissions, TLS)")
	fl.StringVar(&cfg.Monitor, "monitor", "", "address of nats-server's HTTP monitoring endpoints (off by default)")
	registerJetStreamLimits(fl, &mem, &store)
	registerStreamMaxBytes(fl, &maxBytes)
	fl.StringVar(&sc.Prefix, "prefix", cellname.DefaultPrefix, "subject prefix of cells")
	fl.StringVar(&sc.Name, "stream", cellname.DefaultStream, "name of the stream keeping the update log")
	renameFlags(cmd, map[string]string{"nats": "nats-listen", "replicas": "stream-replicas"})
	return cmd
}

// provisionWhenPossible ensures the stream, retrying while the cluster is
// forming, and provisions it again whenever it is deleted. An incompatible
// existing stream is logged and left alone. The broker connects as itself
// (in process, whatever the server's users and TLS).
func provisionWhenPossible(ctx context.Context, log *slog.Logger, srv *broker.Server, sc broker.StreamConfig) {
	nc, err := srv.Connect(broker.ConnConfig{Name: "dprop broker"}, log)
	if err != nil {
		log.Error("stream provisioning: cannot connect; provision the stream by hand (docs/deploy.md)", "err", err)
		return
	}
	defer nc.Close()
	_ = broker.KeepStream(ctx, nc, sc, 0, log) // it logs what it does
}

// ensure provisions the stream over nc.
func ensure(ctx context.Context, nc *nats.Conn, sc broker.StreamConfig) error {
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	_, err = broker.EnsureStream(ctx, js, sc)
	return err
}
