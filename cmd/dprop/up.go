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
		data       string
		listen     string
		configFile string
		auth       bool
		sc         sidecarFlags
		mem, store byteSize
	)
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start an embedded broker, a replica of every cell and the HTTP API",
		Long: `Start everything on this machine: an embedded NATS server with JetStream
(its store under --data), one replica of every cell, and the sidecar HTTP
API. Restarting on the same --data keeps every cell. Stop with Ctrl-C.

With --auth, NATS clients must authenticate: an admin NKey is made once
(DATA/auth/admin.nk, mode 0600) and up says how to use it; once made, auth
stays on for that data directory (remove the file to turn it off). With
--config, the embedded server takes a nats-server configuration file
(accounts, users, TLS), as dprop broker does. up's own replica connects in
process as the broker itself either way.`,
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
			if err := checkStreamFits(sc.streamMaxBytes, store); err != nil {
				return err
			}
			bcfg := broker.Config{
				StoreDir:           filepath.Join(data, "broker"),
				Listen:             listen,
				Logger:             blog,
				ConfigFile:         configFile,
				JetStreamMaxMemory: int64(mem),
				JetStreamMaxStore:  int64(store),
			}
			admin, err := upAuth(data, auth, &bcfg)
			if err != nil {
				return err
			}
			srv, err := broker.Start(bcfg)
			if err != nil {
				return brokerError(err, map[string]string{broker.ListenerClient: "--nats-listen"})
			}
			defer srv.Shutdown()
			sc.watch = &broker.ConnWatch{}
			nc, err := srv.Connect(broker.ConnConfig{Name: "dprop up", Watch: sc.watch}, log)
			if err != nil {
				return err
			}
			defer nc.Close()
			stream := broker.StreamConfig{Prefix: sc.prefix, Name: sc.stream, MaxBytes: int64(sc.streamMaxBytes)}
			if err := ensure(ctx, nc, stream); err != nil {
				return interrupted(ctx, log, err)
			}
			// Provisioned again if someone deletes it.
			go broker.KeepStream(ctx, nc, stream, 0, log.With("component", "stream"))
			sc.snapshot = filepath.Join(data, "replica", "snapshot.jsonl")
			sc.outbox = filepath.Join(data, "replica", "outbox.log")
			sc.writerDir = filepath.Join(data, "replica")
			s, err := startSidecar(ctx, log, nc, ln, sc)
			if err != nil {
				return interrupted(ctx, log, err)
			}
			printUp(cmd.OutOrStdout(), srv.ClientURL(), s, filepath.Join(data, "broker"), sc.prefix)
			if admin != "" {
				printAuth(cmd.OutOrStdout(), srv.ClientURL(), admin)
			}
			return s.wait(ctx)
		},
	}
	cmd.Flags().StringVar(&data, "data", defaultData, "data directory (the JetStream store in DIR/broker, the replica's snapshot and outbox in DIR/replica)")
	cmd.Flags().StringVar(&listen, "nats-listen", broker.DefaultListen, "host:port the embedded NATS server listens on for clients")
	cmd.Flags().BoolVar(&auth, "auth", false, "NATS clients must authenticate: make an admin NKey once under --data and say how to use it")
	cmd.Flags().StringVar(&configFile, "config", "", "nats-server configuration file for the embedded server (accounts, users, permissions, TLS)")
	registerJetStreamLimits(cmd.Flags(), &mem, &store)
	sc.register(cmd)
	renameFlags(cmd, map[string]string{"nats": "nats-listen"})
	return cmd
}

// printUp tells the user what runs and how to use it. With a network it
// says which of its propagators run, and suggests its cells: an input of
// the first propagator, and the cell that propagator derives. With tokens
// the suggestions send one.
func printUp(w io.Writer, natsURL string, s *sidecar, store, prefix string) {
	api, rn := s.url, s.net
	curl := "curl "
	if s.auth {
		curl = `curl -H "Authorization: Bearer $DPROP_TOKEN" `
	}
	fmt.Fprintf(w, `dprop is up.
  NATS      %s  (JetStream store in %s)
  HTTP API  %s
  Web page  %s/ui/
`, natsURL, store, api, api)
	in, value, read, readWhat := "weather.boston.temp", `{"type":"range","min":34,"max":48}`, "weather.boston.temp", "the merged cell"
	if rn != nil {
		fmt.Fprintf(w, "  Network   %s (%d cells)\n            %s\n", rn.file, rn.cells, rn.describe())
		in, value, read = rn.input, exampleValue(rn.inputType), rn.input
		if rn.output != "" {
			read, readWhat = rn.output, "the cell it derives"
		}
	}
	if in != "" {
		server := natsServerFlag(natsURL)
		fmt.Fprintf(w, `
Publish an update with the nats CLI (go install github.com/nats-io/natscli/nats@v0.5.0):
  nats%s pub %s.cell.%s '%s'`, server, prefix, in, value)
	}
	if read != "" {
		fmt.Fprintf(w, `
Read %s:
  %s%s/v1/cells/%s
  dprop get%s %s`, readWhat, curl, api, read, urlFlag(api), read)
		if s.auth {
			fmt.Fprint(w, "   (dprop reads the token from DPROP_TOKEN, or --token)")
		}
	}
	if rn == nil {
		// Operations: no value to build by hand (docs/api.md).
		fmt.Fprintf(w, `
Count with operations (the sidecar builds the update):
  dprop inc%s jobs.done
  nats%s req %s.op.jobs.done '{"op":"inc"}'`, urlFlag(api), natsServerFlag(natsURL), prefix)
	}
	fmt.Fprint(w, "\nStop with Ctrl-C.\n")
}

// natsServerFlag is the nats CLI's -s flag for natsURL, or nothing for
// the CLI's default server.
func natsServerFlag(natsURL string) string {
	if natsURL == "nats://"+broker.DefaultListen {
		return ""
	}
	return " -s " + natsURL
}

// exampleValue is a value of type typ in wire form, to show how to publish
// one; a placeholder for a type it does not know.
func exampleValue(typ string) string {
	switch typ {
	case "number", "max", "min":
		return `{"type":"` + typ + `","value":3}`
	case "interval":
		return `{"type":"interval","lo":1,"hi":2}`
	case "range":
		return `{"type":"range","min":34,"max":48}`
	case "flag":
		return `{"type":"flag","value":true}`
	case "set":
		return `{"type":"set","elems":["a"]}`
	case "gcounter":
		return `{"type":"gcounter","counts":{"me":1}}`
	case "pncounter":
		return `{"type":"pncounter","inc":{"me":1}}`
	case "lww":
		return `{"type":"lww","value":"hello","ts":1}`
	case "orset":
		return `{"type":"orset","elems":[{"elem":"a","dots":[["me",1]]}]}`
	case "map":
		return `{"type":"map","entries":{"k":{"type":"max","value":1}}}`
	case "supported":
		return `{"type":"supported","values":[{"premises":["me"],"value":{"type":"interval","lo":1,"hi":2}}]}`
	}
	return `{"type":"` + typ + `", ... see docs/lattices.md}`
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
