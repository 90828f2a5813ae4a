// Package faults checks that dprop loses no acknowledged update when real
// networks misbehave. Its test, TestFaults, starts three broker nodes and
// three sidecar replicas from the project's own image with docker compose
// (docker-compose.yml here, in a project of its own, so it never touches a
// user's demo), writes through every sidecar all along, and meanwhile kills
// a broker, cuts a sidecar off, partitions a broker away, restarts every
// broker, and kills a sidecar with and without its data volume, with one
// sidecar compacting the log every two seconds.
//
// Writers write a max, a range, their own gcounter slot and their own set
// elements through every sidecar all along; during the partition a
// publisher also writes straight to JetStream on a node of the majority.
// The Ledger records every update attempted and every one acknowledged
// (HTTP 200 from a sidecar, or JetStream's PubAck). After each scenario
// every sidecar, and a fresh fold of the stream, must reach a state with
//
//	join(acknowledged) ⊑ state ⊑ join(attempted)
//
// for every cell (an update whose answer was lost may or may not have been
// stored; nothing never written may appear), and all replicas must be
// equal. The run logs its measurements, and writes them to docs/faults.md
// when DPROP_FAULTS_REPORT=1 (as .ci/faults sets it).
//
// The test needs a Docker engine and the image (scripts/build-image.sh);
// `go test ./...` skips it unless DPROP_FAULTS=1. .ci/faults runs it:
//
//	DPROP_FAULTS=1 go test -count=1 -v -timeout 9m ./internal/faults
//
// The test reaches the containers at their addresses on the compose
// networks, so it runs where those are routed to: on the Docker Engine's
// own Linux host, as in CI (not through Docker Desktop's VM). With
// DPROP_FAULTS_KEEP=1 it leaves the cluster running for inspection
// (remove it with `docker-compose -p dpropfaults -f internal/faults/docker-compose.yml
// down -v`, FAULTS_MESH_NET set to anything). On a failure it logs the tail
// of every container's log.
//
// The Ledger and Judge are plain code with their own tests that need no
// Docker.
package faults
