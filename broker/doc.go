// Package broker runs and reaches the NATS server that carries dprop's
// cells, and provisions the JetStream stream that keeps their history.
// It is the only package of dprop that imports nats-server.
//
// # Embedded or external
//
// By default a dprop process embeds its broker: Start runs nats-server
// with JetStream inside the process, storing in Config.StoreDir and
// listening on 127.0.0.1:4222. When one machine is outgrown, the same
// process connects to an external NATS server or cluster instead. Either
// way everything else goes through a client connection made by Connect, so
// the code paths are the same: an embedded broker is reached over TCP on
// its ClientURL like any other server, and other processes (the nats
// command-line tool, other replicas) can reach it too.
//
//	srv, err := broker.Start(broker.Config{StoreDir: "dprop-data"})
//	...
//	defer srv.Shutdown()
//	nc, err := broker.Connect(broker.ConnConfig{URLs: []string{srv.ClientURL()}}, logger)
//
// Accounts, users, permissions and TLS come from an optional nats-server
// configuration file (Config.ConfigFile), read by nats-server's own
// parser; the settings Config also has fields for follow one rule: what
// Config sets wins, what it leaves empty the file may set, and the
// defaults fill the rest. Because cell names map to subjects
// (weather.boston.temp ↔ dprop.cell.weather.boston.temp), permissions
// can be granted by subtree: a user allowed to publish
// dprop.cell.weather.> may refine the weather cells and nothing else.
//
// JetStream's own limits, what it may keep in memory and on disk
// (Config.JetStreamMaxMemory, JetStreamMaxStore), are best set: left
// alone, nats-server sizes them from the host (75% of its memory and of
// its free disk), which in a container is the host's, not the
// container's.
//
// Shutdown closes connections, hands over any leadership, and flushes the
// store; a server started again on the same directory has every message
// it had, and keeps its name (chosen on the first start and kept in the
// directory) and, through Server.Config, its ports.
//
// # Clustering
//
// Embedded servers can form a NATS cluster: give each a Config.Cluster
// with the same name, its own route listen address, and the route URLs
// of the others, and a distinct, stable server name. JetStream then runs
// clustered: a meta group (Raft) places streams, and each stream is its
// own Raft group over its replicas. Start returns once a member accepts
// connections; the cluster serves JetStream only once a meta leader is
// elected, which Server.WaitJetStream waits for. With three servers or
// more the stream should have three replicas, so that it keeps working,
// and loses no acknowledged update, when any one server is lost.
//
// # The stream
//
// EnsureStream makes one stream (DPROP) capture every cell subject
// (dprop.cell.>), and checks, without ever changing it, that an existing
// stream suits dprop. Its settings, and why:
//
//   - File storage and limits retention, nothing discarded by default:
//     the stream is the durable history that a new or rejoining replica
//     replays to reach the same state as the others.
//   - Rollups denied: a Nats-Rollup header erases a subject's history, and
//     NATS permissions cannot stop a writer from setting a header. Any
//     writer of a cell could erase what new replicas would learn of it.
//     Compaction does the same safely without them: because merges are
//     state-based, the join of a cell's updates is itself a valid update,
//     so a compactor publishes it (guarded by
//     Nats-Expected-Last-Subject-Sequence, so that nothing written
//     meanwhile is lost) and then purges the subject below it, which only
//     the admin role may do. An existing stream that allows rollups is
//     used as it is (KeepStream warns); dprop uses rollups there.
//   - Direct get allowed: reads of single messages (the last one of a
//     subject, a given sequence) are answered by any replica, not only the
//     leader.
//   - A duplicate window (two minutes): a publish retried with the same
//     Nats-Msg-Id, as clients do when a leader moves, is stored once.
//     Merges are idempotent, so duplicates would be harmless to the state,
//     but they would lengthen the history.
//   - Deletes and purges allowed: operators can repair the log.
//   - Discard new: a stream given a byte limit (MaxBytes) refuses new
//     updates once full, and the publisher is told (JetStream's 503,
//     "maximum bytes exceeded"); it never drops old ones, which would lose
//     acknowledged updates silently. Compaction, or an operator, makes
//     room. An existing stream without a limit may discard old (earlier
//     versions made theirs so): it never discards anything. One with a
//     limit and discard old is incompatible. A byte limit other than the
//     configured one is used as it is, with a warning (KeepStream).
//     MaxAge, when set, drops updates older than it whatever the policy,
//     which is safe only if cells are compacted more often.
//   - One replica, or three in a cluster.
//
// Cell names, patterns and the subjects they map to belong to package
// cellname, which broker, propagators and replica share.
//
// # Tests
//
// Package brokertest starts real servers and clusters for tests, in the
// test process, on temporary directories and free ports.
package broker
