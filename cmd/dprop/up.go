package main

import (
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"

	"github.com/dprop/dprop/broker"
	"github.com/spf13/cobra"
)

func newUpCmd(g *globals) *cobra.Command {
	var (
		data   string
		listen string
		sc     sidecarFlags
	)
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start an embedded broker, a replica of every cell and the HTTP API",
		Long: `Start everything on this machine: an embedded NATS server with JetStream
(its store under --data), one replica of every cell, and the sidecar HTTP
API. Restarting on the same --data keeps every cell. Stop with Ctrl-C.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			blog, err := g.brokerLogger()
			if err != nil {
				return err
			}
			// Both addresses are checked before anything is written under
			// --data: the API's is bound here, the broker's by Start.
			ln, err := sc.listen(log)
			if err != nil {
				return err
			}
			defer ln.Close() // for the early returns; the API's server owns it once serving
			srv, err := broker.Start(broker.Config{
				StoreDir: filepath.Join(data, "broker"),
				Listen:   listen,
				Logger:   blog,
			})
			if err != nil {
				return brokerError(err, map[string]string{broker.ListenerClient: "--nats-listen"})
			}
			defer srv.Shutdown()
			nc, err := broker.Connect(broker.ConnConfig{URLs: []string{srv.ClientURL()}, Name: "dprop up"}, log)
			if err != nil {
				return err
			}
			defer nc.Close()
			if err := ensure(ctx, nc, broker.StreamConfig{Prefix: sc.prefix, Name: sc.stream}); err != nil {
				return interrupted(ctx, log, err)
			}
			sc.snapshot = filepath.Join(data, "replica", "snapshot.jsonl")
			s, err := startSidecar(ctx, log, nc, ln, sc)
			if err != nil {
				return interrupted(ctx, log, err)
			}
			printUp(cmd.OutOrStdout(), srv.ClientURL(), s.addr, filepath.Join(data, "broker"), sc.prefix)
			return s.wait(ctx)
		},
	}
	cmd.Flags().StringVar(&data, "data", defaultData, "data directory (the JetStream store in DIR/broker, the replica's snapshot in DIR/replica)")
	cmd.Flags().StringVar(&listen, "nats-listen", broker.DefaultListen, "host:port the embedded NATS server listens on for clients")
	sc.register(cmd)
	renameFlags(cmd, map[string]string{"nats": "nats-listen"})
	return cmd
}

// printUp tells the user what runs and how to use it.
func printUp(w io.Writer, natsURL string, httpAddr net.Addr, store, prefix string) {
	server := ""
	if natsURL != "nats://"+broker.DefaultListen {
		server = " -s " + natsURL
	}
	api := "http://" + reachable(httpAddr)
	cell := "weather.boston.temp"
	fmt.Fprintf(w, `dprop is up.
  NATS      %s  (JetStream store in %s)
  HTTP API  %s

Publish an update with the nats CLI (go install github.com/nats-io/natscli/nats@v0.5.0):
  nats%s pub %s.cell.%s '{"type":"range","min":34,"max":48}'
Read the merged cell:
  curl %s/v1/cells/%s
  dprop get%s %s
Stop with Ctrl-C.
`, natsURL, store, api, server, prefix, cell, api, cell, urlFlag(api), cell)
}

func urlFlag(api string) string {
	if api == "http://"+defaultHTTP {
		return ""
	}
	return " --url " + strings.TrimSuffix(api, "/")
}

// reachable is addr as a client on this machine would dial it: an
// unspecified host (0.0.0.0, ::) becomes loopback.
func reachable(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
