// Package faults checks that dprop loses no acknowledged update when real
// networks misbehave, on the deployment users run: its test, TestFaults,
// starts the top-level docker-compose.yml (three broker nodes, three
// sidecars, the limits and published ports that file gives them) from the
// project's own image, in a compose project of its own, writes through
// every sidecar all along, and meanwhile kills a broker, cuts a sidecar
// off for 30 s, partitions a broker away, pauses a broker, restarts every
// broker, kills a sidecar with and without its data volume, stops two of
// the three brokers for 30 s, kills a cut-off sidecar with updates in its
// outbox, and tears the last record of that outbox by hand, with the
// celsius sidecar compacting the log every two seconds.
//
// # What it adds to the compose file
//
// Little, and said where it is: faults.override.yml gives the sidecar it
// cuts off (writer-sidecar) a second network, so that its published port,
// which Docker carries on the container's first network by name and loses
// for good when that network is disconnected, outlives the cut. The
// compose file's own variables do the rest: DPROP_IMAGE, DPROP_PORT_* (free
// host ports, so that a running demo is never in the way) and
// DPROP_COMPACT_EVERY=2s. The test reaches the sidecars' APIs and the
// brokers' monitoring through their published ports on 127.0.0.1, and the
// brokers' NATS port, which the file does not publish, at their addresses
// on the compose network (so it runs where those are routed to: on the
// Docker Engine's own Linux host, as in CI, not through Docker Desktop's
// VM).
//
// The apps (writer, reader) are not started. Their updates (the
// Fahrenheit cell, and the Celsius cell its propagator derives) would be
// outside the ledger, and an app shares its sidecar's network namespace,
// so killing or re-creating the sidecar strands it until compose
// re-creates it too: the behaviour of the demo, documented in
// docs/deploy.md, not of dprop. The writers the test runs write through
// the same sidecars, as the apps would.
//
// # What it checks
//
// Writers write a max, a range, their own gcounter slot and their own set
// elements through every sidecar, to the cells it holds (reader-sidecar
// holds only weather.boston.temp_c, the range); during the partition a
// publisher also writes straight to JetStream on a node of the majority.
// The Ledger records every update attempted and every one acknowledged,
// and how: by the log (HTTP 200 from a sidecar, or JetStream's PubAck) or
// by a sidecar's outbox (HTTP 202: every sidecar of the compose file has
// --data, hence an outbox, DATA/outbox.log). After each scenario
// every sidecar, and a fresh fold of the stream, must reach a state with
//
//	join(acknowledged) ⊑ state ⊑ join(attempted)
//
// for every cell it holds (an update whose answer was lost may or may not
// have been stored; nothing never written may appear), and all must agree
// on the cells they share, and every sidecar's outbox must be empty. The
// cut-off sidecar's /readyz must turn 503 with the reason while its reads
// go on, marked stale, and every refine sent to it must be answered 202,
// none 503; the test measures
// how long it took to notice, and how long it took, once the network was
// back, to hold everything acknowledged before (the catch-up). The
// sidecars of the paused broker must give its connection up and say so
// in their logs. With two brokers of three stopped (no quorum) every
// sidecar must answer every refine 202, the log acknowledge none. A
// sidecar killed while cut off must come back, still cut off, with every
// update its outbox held, and deliver them once reconnected; with the
// last record of its outbox torn by hand while it was down, it must log
// an ERROR, set the torn tail aside, and deliver the others, and the torn
// update (which the test counts as attempted only: a real torn write was
// never acknowledged) must be nowhere. Probe writes, which measure when
// the log takes writes again, ask for its acknowledgement (Prefer:
// ack=log). Every container must run with a memory and a CPU limit.
// The run logs its measurements, and writes them to docs/faults.md when
// DPROP_FAULTS_REPORT=1 (as .ci/faults sets it).
//
// # Running it
//
// The test needs a Docker engine, docker compose (v2) or docker-compose
// (v1), and the image (scripts/build-image.sh); `go test ./...` skips it
// unless DPROP_FAULTS=1. .ci/faults builds the image and runs it:
//
//	DPROP_FAULTS=1 go test -count=1 -v -timeout 15m ./internal/faults
//
// DPROP_FAULTS_PROJECT names another compose project (default
// dpropfaults), DPROP_FAULTS_ONLY=2,9 runs some scenarios only (and
// writes no report), and DPROP_FAULTS_KEEP=1 leaves the cluster running
// for inspection (remove it with `docker-compose -p dpropfaults -f
// docker-compose.yml -f internal/faults/faults.override.yml down -v`). On
// a failure it logs the tail of every container's log.
//
// The Ledger and Judge are plain code with their own tests that need no
// Docker.
package faults
