package replica

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Status is what an operator wants to know of a replica and its stream in
// one look (GET /v1/status, dprop status).
type Status struct {
	Replica ReplicaStatus `json:"replica"`
	// Stream is the stream as its server reports it; nil when it cannot
	// be reached (StreamError says why).
	Stream      *StreamReport `json:"stream,omitempty"`
	StreamError string        `json:"stream_error,omitempty"`
}

// ReplicaStatus is this replica's side.
type ReplicaStatus struct {
	Origin  string `json:"origin"`  // the Dprop-Origin of its publishes
	Writer  string `json:"writer"`  // its writer id (Replica.WriterID)
	Cells   string `json:"cells"`   // the pattern of cells it holds
	Held    int    `json:"held"`    // cells it holds
	Applied uint64 `json:"applied"` // the last stream sequence folded
	// Pending is the number of its cells' messages in the stream not yet
	// delivered to it: its lag.
	Pending uint64 `json:"pending"`
	Ready   bool   `json:"ready"`
	Stale   bool   `json:"stale"`
	// Attached says whether its consumer is attached to the stream, and
	// Problem why not.
	Attached     bool              `json:"attached"`
	Problem      string            `json:"problem,omitempty"`
	LastIncident string            `json:"last_incident,omitempty"`
	Incidents    map[string]uint64 `json:"incidents"`
	// Connected is the NATS server it is connected to (empty while it is
	// not), by URL and name.
	Connected  bool   `json:"connected"`
	Server     string `json:"server,omitempty"`
	ServerName string `json:"server_name,omitempty"`
	// LastCompaction is the latest compaction message this replica folded
	// (since it started), if any.
	LastCompaction *Compaction `json:"last_compaction,omitempty"`
	// Outbox is what its outbox holds (absent without one): updates
	// taken while the log could not acknowledge them, not yet delivered.
	Outbox *OutboxSummary `json:"outbox,omitempty"`
}

// OutboxSummary is a replica's outbox in its status.
type OutboxSummary struct {
	Pending   int       `json:"pending"`
	Bytes     int64     `json:"bytes"`
	Oldest    time.Time `json:"oldest,omitzero"`
	LastError string    `json:"last_error,omitempty"`
}

// Compaction is a compaction as a replica saw it: the sequence and time of
// its latest message.
type Compaction struct {
	Seq  uint64    `json:"seq"`
	Time time.Time `json:"time"`
}

// StreamReport is the stream as its server reports it.
type StreamReport struct {
	Name      string    `json:"name"`
	Subjects  []string  `json:"subjects"`
	Created   time.Time `json:"created"`
	Messages  uint64    `json:"messages"`
	Bytes     uint64    `json:"bytes"`
	FirstSeq  uint64    `json:"first_seq"`
	LastSeq   uint64    `json:"last_seq"`
	Consumers int       `json:"consumers"`
	Replicas  int       `json:"replicas"`
	// MaxBytes is the stream's byte limit (0: none) and Discard what it
	// does at the limit ("new": refuses writes; "old": drops the oldest).
	MaxBytes int64  `json:"max_bytes,omitempty"`
	Discard  string `json:"discard"`
	// Cluster is the stream's Raft group, when it is replicated.
	Cluster *StreamCluster `json:"cluster,omitempty"`
}

// StreamCluster is a replicated stream's group: its leader and how far each
// follower is.
type StreamCluster struct {
	Name     string       `json:"name,omitempty"`
	Leader   string       `json:"leader"`
	Replicas []StreamPeer `json:"replicas"`
}

// StreamPeer is a follower of the stream's leader.
type StreamPeer struct {
	Name    string        `json:"name"`
	Current bool          `json:"current"`
	Offline bool          `json:"offline,omitempty"`
	Active  time.Duration `json:"active_ns"`
	Lag     uint64        `json:"lag"`
}

// Status reports the replica and its stream; the stream's side is asked of
// the server, bounded by ctx.
func (r *Replica) Status(ctx context.Context) Status {
	p := r.Progress()
	ss := r.StreamStatus()
	nc := r.cfg.Conn
	st := Status{Replica: ReplicaStatus{
		Origin: r.cfg.Origin, Writer: r.cfg.WriterID, Cells: r.cfg.Cells, Held: p.Cells, Applied: p.Applied, Pending: p.Pending,
		Ready: p.Ready, Stale: r.Stale(), Attached: ss.Attached, Problem: ss.Problem, LastIncident: ss.LastIncident,
		Incidents: ss.Incidents, Connected: nc.IsConnected(),
	}}
	if st.Replica.Connected {
		st.Replica.Server, st.Replica.ServerName = nc.ConnectedUrlRedacted(), nc.ConnectedServerName()
	}
	if c := r.lastCompaction.Load(); c != nil {
		st.Replica.LastCompaction = c
	}
	if ob := r.Outbox(); ob.Enabled {
		st.Replica.Outbox = &OutboxSummary{Pending: ob.Pending, Bytes: ob.Bytes, Oldest: ob.Oldest, LastError: ob.LastError}
	}
	stream, err := r.js.Stream(ctx, r.cfg.Stream)
	if err != nil {
		st.StreamError = fmt.Sprintf("stream %q: %v", r.cfg.Stream, err)
		return st
	}
	info := stream.CachedInfo()
	rep := &StreamReport{Name: info.Config.Name, Subjects: info.Config.Subjects, Created: info.Created,
		Messages: info.State.Msgs, Bytes: info.State.Bytes, FirstSeq: info.State.FirstSeq, LastSeq: info.State.LastSeq,
		Consumers: info.State.Consumers, Replicas: info.Config.Replicas, Discard: strings.ToLower(strings.TrimPrefix(info.Config.Discard.String(), "Discard"))}
	if info.Config.MaxBytes > 0 {
		rep.MaxBytes = info.Config.MaxBytes
	}
	if c := info.Cluster; c != nil && info.Config.Replicas > 1 {
		rep.Cluster = &StreamCluster{Name: c.Name, Leader: c.Leader}
		for _, p := range c.Replicas {
			rep.Cluster.Replicas = append(rep.Cluster.Replicas, StreamPeer{Name: p.Name, Current: p.Current, Offline: p.Offline, Active: p.Active, Lag: p.Lag})
		}
		slices.SortFunc(rep.Cluster.Replicas, func(a, b StreamPeer) int { return strings.Compare(a.Name, b.Name) })
	}
	st.Stream = rep
	return st
}
