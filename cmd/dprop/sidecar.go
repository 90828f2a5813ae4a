package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
	"github.com/nats-io/nkeys"
	"github.com/spf13/cobra"

	"github.com/dprop/dprop/broker"
	"github.com/dprop/dprop/cellname"
	"github.com/dprop/dprop/propagators/network"
	"github.com/dprop/dprop/propagators/network/graph"
	"github.com/dprop/dprop/replica"
	"github.com/dprop/dprop/replica/fold"
	"github.com/dprop/dprop/replica/httpapi"
	"github.com/dprop/dprop/replica/natsapi"
)

// Defaults of the sidecar.
const (
	defaultHTTP = "127.0.0.1:37767"
	defaultData = "./dprop-data"
)

// sidecarFlags configure a replica and its HTTP API, for up and replica.
type sidecarFlags struct {
	http           string
	cells          string
	prefix         string
	stream         string
	streamReplicas int
	streamMaxBytes byteSize // the stream's byte limit, if this command creates it
	snapshot       string   // local snapshot file; "" for none
	outbox         string   // outbox file; "" for none (see replica.Config.OutboxPath)
	writerDir      string   // directory keeping the writer id; "" for a fresh one per start
	outboxMaxBytes int64
	outboxAfter    time.Duration
	compactEvery   time.Duration
	maxCellBytes   int
	network        string
	networks       string // --networks: a pattern of names of networks in the log
	heartbeat      time.Duration
	propagators    []string
	watch          *broker.ConnWatch // the NATS connection's health, for /readyz
	maxStreams     int
	maxAwaits      int
	allowOrigins   []string
	allowHosts     []string
	auth           httpAuthFlags // tokens, certificates, HTTPS
	trustFile      string
	signKeyFile    string
	// Read by listen from trustFile and signKeyFile.
	trust   *fold.Trust
	signKey nkeys.KeyPair
}

func (f *sidecarFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.http, "http", defaultHTTP, "address of the HTTP API; loopback by default: any other address needs --http-tokens (or --insecure-no-auth)")
	fl.StringVar(&f.prefix, "prefix", cellname.DefaultPrefix, "subject prefix: cell c lives on <prefix>.cell.c")
	fl.StringVar(&f.stream, "stream", cellname.DefaultStream, "name of the stream keeping the update log")
	fl.DurationVar(&f.compactEvery, "compact-every", 0, "compact the log about this often (off by default; see docs/recovery.md)")
	registerStreamMaxBytes(fl, &f.streamMaxBytes)
	fl.StringVar(&f.network, "network", "", "network file declaring cells and propagators to run (see docs/networks.md)")
	fl.StringVar(&f.networks, "networks", "", `run the networks kept in the log (dprop network apply) whose names match this pattern ("*" for all), following their changes; shared with the other replicas running them unless --propagators pins groups here`)
	fl.DurationVar(&f.heartbeat, "heartbeat", time.Second, "with --networks: how often this replica tells the others sharing its networks that it lives; one silent for three heartbeats is taken for dead and its share runs elsewhere")
	fl.StringSliceVar(&f.propagators, "propagators", nil, `with --network or --networks: run only these groups or propagator names, here and not shared ("none" for none; default all)`)
	registerMaxCellBytes(cmd, &f.maxCellBytes)
	fl.Int64Var(&f.outboxMaxBytes, "outbox-max-bytes", defaultOutboxMaxBytes, "with --data: bytes of pending updates the outbox keeps while the log cannot take them; past it refines get 503 outbox_full (see docs/recovery.md)")
	fl.DurationVar(&f.outboxAfter, "outbox-after", replica.DefaultOutboxAfter, "with --data: how long a refine waits for the log's acknowledgement before the outbox takes it (answered 202); always: how long an acknowledged refine waits for this sidecar's fold before it is answered from the pending view (Dprop-Folded: false)")
	fl.IntVar(&f.maxStreams, "http-max-streams", httpapi.DefaultMaxStreams, "event streams the HTTP API serves at once; more get 503 busy")
	fl.IntVar(&f.maxAwaits, "http-max-awaits", httpapi.DefaultMaxAwaits, "threshold reads (?await=) the HTTP API holds at once; more get 503 busy")
	fl.StringSliceVar(&f.allowOrigins, "http-allow-origin", nil, "origins (scheme://host[:port]) whose web pages may call the HTTP API; pages of any other origin are refused (see docs/api.md, Browsers and Host)")
	fl.StringSliceVar(&f.allowHosts, "http-allow-host", nil, "host names the HTTP API answers to besides IP addresses, localhost and service names (single-label, on non-loopback addresses); others get 421, which stops DNS rebinding")
	f.auth.register(fl)
	registerTrust(cmd, &f.trustFile)
	registerSignKey(cmd, &f.signKeyFile, "what this sidecar publishes (refines that carry no signature of their own, its propagators' refinements, its compactions)")
}

// loadAccess reads the trust policy and the signing key, if given, and
// says what they are.
func (f *sidecarFlags) loadAccess(log *slog.Logger) error {
	var err error
	if f.trust, err = loadTrust(f.trustFile); err != nil {
		return err
	}
	if f.signKey, err = loadSignKey(f.signKeyFile, func(msg string) { log.Warn(msg) }); err != nil {
		return err
	}
	if f.trust != nil {
		log.Info("trust policy loaded: updates the policy forbids are refused", "file", f.trustFile, "rules", len(f.trust.Rules()), "sha256", f.trust.Hash())
	}
	if f.signKey != nil {
		pub, _ := f.signKey.PublicKey()
		log.Info("signing what this sidecar publishes", "signer", pub)
		if f.trust == nil && f.compactEvery > 0 {
			log.Warn("this sidecar signs its compactions but folds without a trust policy: its rollups would vouch, under its key, for every update it folded, signed or not; give it the replicas' --trust")
		}
	}
	return nil
}

// apiOptions are the HTTP API's options from the flags, checked.
func (f *sidecarFlags) apiOptions() (httpapi.Options, error) {
	if f.maxStreams < 1 || f.maxAwaits < 1 {
		return httpapi.Options{}, usagef("--http-max-streams and --http-max-awaits must be at least 1")
	}
	if f.outboxMaxBytes < 0 || f.outboxAfter <= 0 {
		return httpapi.Options{}, usagef("--outbox-max-bytes must be 0 (no bound) or more, and --outbox-after above 0")
	}
	opts := httpapi.Options{MaxStreams: f.maxStreams, MaxAwaits: f.maxAwaits, AllowOrigins: f.allowOrigins, AllowHosts: f.allowHosts,
		Access: f.auth.access}
	if err := opts.Check(); err != nil {
		return opts, usagef("--http-allow-origin or --http-allow-host: %v", err)
	}
	return opts, nil
}

// loadNetwork reads the network file, if any, into the replica's config,
// and says what of it runs here (nil without a network).
func (f *sidecarFlags) loadNetwork(log *slog.Logger, cfg *replica.Config) (*runningNetwork, error) {
	if f.networks != "" {
		if err := f.checkNetworks(); err != nil {
			return nil, err
		}
		cfg.LiveNetworks = true
		if f.heartbeat <= 0 {
			return nil, usagef("--heartbeat must be positive")
		}
		cfg.Heartbeat = f.heartbeat
	}
	if f.network == "" {
		if len(f.propagators) > 0 && f.networks == "" {
			return nil, usagef("--propagators needs --network or --networks")
		}
		return nil, nil
	}
	n, err := network.Load(f.network)
	if err != nil {
		return nil, fmt.Errorf("--network: %w", err)
	}
	all, err := n.Build() // the whole network: its problems, if any, are said here
	if err != nil {
		return nil, err
	}
	b := all
	none := len(f.propagators) == 1 && f.propagators[0] == "none"
	if len(f.propagators) > 0 && !none {
		if b, err = n.Build(f.propagators...); err != nil {
			return nil, usageError{err}
		}
	}
	cfg.Declared, cfg.Initial = b.Types, b.Initial
	for _, e := range b.Expire {
		cfg.Expire = append(cfg.Expire, replica.ExpireRule{Cells: e.Cells, TTL: e.TTL})
	}
	if !none {
		cfg.Propagators = b.Propagators
		if len(b.Templates) > 0 { // they follow the cells: a live network of this replica's own
			cfg.Networks = append(cfg.Networks, liveNetwork("file:"+filepath.Base(f.network), b, false))
		}
	}
	rn := newRunningNetwork(f.network, n, all, cfg.Propagators, f.propagators)
	if !none {
		for _, t := range b.Templates {
			rn.running = append(rn.running, t.Name())
		}
	}
	if rn.graph, err = graph.FromNetwork(n); err != nil {
		return nil, err
	}
	log.Info("network loaded", "file", f.network, "cells", len(b.Types), "propagators", rn.running)
	return rn, nil
}

// sidecar is a running replica with its HTTP API.
type sidecar struct {
	rep    *replica.Replica
	server *http.Server
	addr   net.Addr
	url    string // the API's base URL, as a client on this machine reaches it
	auth   bool   // the API asks for tokens or client certificates
	served chan error
	log    *slog.Logger
	net    *runningNetwork // nil without --network

	// svc is the NATS service of operations, once the replica is ready
	// (see serveOps); guarded by svcMu.
	svcMu sync.Mutex
	svc   micro.Service
}

// listen checks the HTTP API's address and authentication, and binds it.
func (f *sidecarFlags) listen(log *slog.Logger) (net.Listener, error) {
	if err := f.auth.check(log, f.http); err != nil {
		return nil, err
	}
	if err := checkMaxCellBytes(f.maxCellBytes); err != nil {
		return nil, err
	}
	if _, err := f.apiOptions(); err != nil {
		return nil, err
	}
	if err := f.loadAccess(log); err != nil {
		return nil, err
	}
	return listenHTTP(f.http)
}

// startSidecar starts a replica on nc and serves its HTTP API on ln (from
// sidecarFlags.listen), which it closes if it fails. It returns once the
// API serves; the resync goes on in the background.
func startSidecar(ctx context.Context, log *slog.Logger, nc *nats.Conn, ln net.Listener, f sidecarFlags) (*sidecar, error) {
	cfg := replica.Config{
		Conn:           nc,
		Prefix:         f.prefix,
		Stream:         f.stream,
		Cells:          f.cells,
		Logger:         log,
		Progress:       progressReporter(log),
		SnapshotPath:   f.snapshot,
		OutboxPath:     f.outbox,
		OutboxAfter:    f.outboxAfter,
		OutboxMaxBytes: f.outboxMaxBytes,
		CompactEvery:   f.compactEvery,
		MaxCellBytes:   f.maxCellBytes,
		Trust:          f.trust,
		// Every sidecar types cells as the networks in the log declare,
		// whether it runs them or not, so that all decide alike.
		NetworkDeclarations: logDeclarations,
	}
	if f.signKey != nil {
		cfg.SignKey = f.signKey
	}
	if f.writerDir != "" {
		id, err := replica.LoadWriterID(f.writerDir)
		if err != nil {
			ln.Close()
			return nil, err
		}
		cfg.WriterID = id
	}
	rn, err := f.loadNetwork(log, &cfg)
	if err != nil {
		ln.Close()
		return nil, err
	}
	opts, err := f.apiOptions() // checked by listen
	if err != nil {
		ln.Close()
		return nil, err
	}
	rep, err := replica.Start(ctx, cfg)
	if err != nil {
		ln.Close()
		return nil, err
	}
	log.Info("writing as", "writer", rep.WriterID(), "kept", f.writerDir != "")
	opts.Logger, opts.Quiescent = log, rep.Quiescent
	if rn != nil {
		opts.Network = rn.graph // for the web page's network view
	}
	if f.watch != nil {
		// Without its connection the sidecar cannot reach the log: /readyz
		// says why, and reads, still served, are marked stale.
		opts.Checks = map[string]func(context.Context) error{"nats": func(context.Context) error { return f.watch.Err() }}
		opts.Stale = func() bool { return f.watch.Err() != nil }
	}
	api := httpapi.New(rep, opts)
	s := &sidecar{
		rep:    rep,
		server: api.HTTPServer(), // its timeouts, and event streams ended on Shutdown
		addr:   ln.Addr(),
		url:    f.auth.scheme() + "://" + reachable(ln.Addr()),
		auth:   opts.Access != nil,
		served: make(chan error, 1),
		log:    log,
		net:    rn,
	}
	go func() { s.served <- f.auth.serve(s.server, ln) }()
	if f.auth.tokens != "" {
		go f.auth.watchTokens(ctx, log, api)
	}
	go s.checkPropagators()
	go s.serveOps(ctx, nc, f)
	if f.networks != "" {
		go followNetworks(ctx, log, rep, f.networks, f.propagators)
	}
	return s, nil
}

// serveOps serves the operations on the sidecar's cells as a NATS
// service (package natsapi) once the replica is ready: before, it could
// not apply them, and the queue group sends requests to the sidecars that
// can.
func (s *sidecar) serveOps(ctx context.Context, nc *nats.Conn, f sidecarFlags) {
	select {
	case <-s.rep.Ready():
	case <-ctx.Done():
		return
	case <-s.rep.Done():
		return
	}
	svc, err := natsapi.Serve(nc, s.rep, natsapi.Options{Prefix: f.prefix, Cells: f.cells, Version: readBuildVersion().Version, Logger: s.log})
	if err != nil {
		s.log.Error("cannot serve operations over NATS", "err", err)
		return
	}
	s.svcMu.Lock()
	defer s.svcMu.Unlock()
	if ctx.Err() != nil {
		_ = svc.Stop()
		return
	}
	s.svc = svc
	s.log.Info("operations served over NATS", "service", natsapi.Name, "subject", natsapi.Subject(f.prefix, cellsOrAll(f.cells)),
		"queue_group", natsapi.QueueGroup, "writer", s.rep.WriterID())
}

// stopOps stops the NATS service of operations, if it runs.
func (s *sidecar) stopOps() {
	s.svcMu.Lock()
	defer s.svcMu.Unlock()
	if s.svc != nil {
		_ = s.svc.Stop()
		s.svc = nil
	}
}

// ensureStream creates the stream if it does not exist (with the flags'
// replicas and byte limit); an existing stream is used as it is.
func (f *sidecarFlags) ensureStream(ctx context.Context, nc *nats.Conn) error {
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	if _, err := js.Stream(ctx, f.stream); err == nil {
		return nil
	} else if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("stream %s: %w", f.stream, err)
	}
	_, err = broker.EnsureStream(ctx, js, broker.StreamConfig{Prefix: f.prefix, Name: f.stream, Replicas: f.streamReplicas,
		MaxBytes: int64(f.streamMaxBytes)})
	return err
}

// wait serves until ctx ends, then shuts down the API and the replica.
func (s *sidecar) wait(ctx context.Context) error {
	select {
	case err := <-s.served:
		s.stopOps()
		s.rep.Close()
		return fmt.Errorf("http api: %w", err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down")
	s.stopOps()
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.server.Shutdown(shutdown)
	s.rep.Close()
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("http api shutdown: %w", err)
	}
	return nil
}

func validatePattern(p string) error { return cellname.ValidatePattern(p) }

// interrupted ends a start that Ctrl-C (or SIGTERM) cut short as a stop
// asked for: one "shutting down" line and exit status 0, not the error of
// whichever step the signal cut (a "context canceled"). An error of a
// start that was not interrupted is returned as it is.
func interrupted(ctx context.Context, log *slog.Logger, err error) error {
	if ctx.Err() == nil {
		return err
	}
	log.Info("shutting down")
	return nil
}

// defaultOutboxMaxBytes bounds a sidecar's outbox: 64 MiB of pending
// updates, some hundred thousand small ones.
const defaultOutboxMaxBytes = 64 << 20
