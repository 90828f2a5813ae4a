package replica_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dprop/dprop/broker"
	"github.com/dprop/dprop/internal/brokertest"
	"github.com/dprop/dprop/lattice"
	"github.com/dprop/dprop/replica"
	"github.com/dprop/dprop/replica/outbox"
)

// withOutbox gives a replica an outbox at path that takes a refine after
// 200 ms without the log's acknowledgement.
func withOutbox(path string) func(*replica.Config) {
	return func(c *replica.Config) {
		c.OutboxPath = path
		c.OutboxAfter = 200 * time.Millisecond
	}
}

// refineReport refines cell and returns the cell and the report.
func refineReport(t *testing.T, r *replica.Replica, cell string, v lattice.Value, opts ...replica.RefineOption) (lattice.Value, replica.RefineReport) {
	t.Helper()
	var rep replica.RefineReport
	c, err := r.Refine(ctxT(t), cell, v, append(opts, replica.WithReport(&rep))...)
	if err != nil {
		t.Fatalf("refine %s: %v", cell, err)
	}
	return c.Value, rep
}

// subjectCount is the number of messages the stream holds on cell's
// subject.
func subjectCount(t *testing.T, url, cell string) uint64 {
	t.Helper()
	js := brokertest.JetStream(t, connect(t, url))
	s, err := js.Stream(ctxT(t), "DPROP")
	if err != nil {
		t.Fatal(err)
	}
	subj := "dprop.cell." + cell
	info, err := s.Info(ctxT(t), jetstream.WithSubjectFilter(subj))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Subjects[subj]
}

// A sidecar whose broker is gone keeps taking refines: each is synced to
// its outbox, merged into what it shows (reads, threshold reads, watchers)
// and answered as pending; once the broker is back the outbox drains, each
// update stored once, and the sidecar shows the log's state again.
func TestOutboxThroughBrokerLoss(t *testing.T) {
	srv := runBroker(t)
	url := srv.ClientURL()
	r := startReplica(t, url, withOutbox(filepath.Join(t.TempDir(), "outbox")))
	w, err := r.Watch("ob.>", false)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()

	v, rep := refineReport(t, r, "ob.a", lattice.Max{Value: 1})
	if rep.Pending || rep.Seq == 0 || !lattice.Equal(v, lattice.Max{Value: 1}) {
		t.Fatalf("refine with the broker up: %v %+v, want acknowledged max 1", v, rep)
	}

	srv.Shutdown()
	v, rep = refineReport(t, r, "ob.a", lattice.Max{Value: 5})
	if !rep.Pending || rep.PendingUpdates != 1 || !lattice.Equal(v, lattice.Max{Value: 5}) {
		t.Fatalf("refine without the broker: %v %+v, want pending max 5 with 1 pending", v, rep)
	}
	// A cell only the outbox knows of yet, and a retried refine with an
	// idempotency key, taken once.
	for range 2 {
		refineReport(t, r, "ob.new", lattice.NewSet(lattice.Str("x")), replica.WithIdempotencyKey("k1"))
	}
	if st := r.Outbox(); st.Pending != 2 || st.Taken != 2 {
		t.Fatalf("outbox %+v, want 2 pending, 2 taken", st)
	}
	c, ok := r.Get("ob.a")
	if !ok || c.Pending != 1 || !lattice.Equal(c.Value, lattice.Max{Value: 5}) {
		t.Fatalf("read of ob.a: %+v, want max 5 with 1 pending", c)
	}
	if cells := r.Cells("ob.>"); len(cells) != 2 || cells[1].Name != "ob.new" || cells[1].Pending != 1 {
		t.Fatalf("listing: %+v, want ob.a and the pending ob.new", cells)
	}
	if page, _ := r.CellsPage("ob.>", "ob.a", 10); len(page) != 1 || page[0].Name != "ob.new" {
		t.Fatalf("page after ob.a: %+v, want ob.new", page)
	}
	// Watchers are told a moment after the fold: the acknowledged max 1
	// may come first.
	ev := nextEvent(t, w, "ob.a")
	if ev.Pending == 0 && lattice.Equal(ev.Value, lattice.Max{Value: 1}) {
		ev = nextEvent(t, w, "ob.a")
	}
	if ev.Pending != 1 || !lattice.Equal(ev.Value, lattice.Max{Value: 5}) {
		t.Fatalf("watcher: %+v, want max 5 pending", ev)
	}
	// A threshold read is met by the pending value.
	if got, err := r.Await(ctxT(t), "ob.a", lattice.Max{Value: 4}); err != nil || got.Pending != 1 {
		t.Fatalf("await max 4: %+v %v", got, err)
	}
	// A client that must have the log's acknowledgement does not get
	// the outbox.
	if _, err := r.Refine(ctxT(t), "ob.a", lattice.Max{Value: 9}, replica.WithLogAck()); err == nil {
		t.Fatal("refine with WithLogAck and no broker succeeded")
	}
	if st := r.Outbox(); st.Pending != 2 {
		t.Fatalf("outbox after a refused WithLogAck refine: %+v", st)
	}

	srv = brokertest.RestartServer(t, srv)
	waitFor(t, "the outbox drained and its updates folded", func() bool {
		a, _ := r.Get("ob.a")
		n, _ := r.Get("ob.new")
		return r.Outbox().Pending == 0 && a.Pending == 0 && n.Pending == 0 && n.Seq > 0
	})
	if st := r.Outbox(); st.Delivered != 2 {
		t.Fatalf("outbox %+v, want 2 delivered", st)
	}
	if c, _ := r.Get("ob.a"); !lattice.Equal(c.Value, lattice.Max{Value: 5}) {
		t.Fatalf("ob.a after the drain: %v", c.Value)
	}
	if n := subjectCount(t, srv.ClientURL(), "ob.new"); n != 1 {
		t.Fatalf("the stream holds %d updates of ob.new, want 1", n)
	}
	// Another replica, without an outbox, reads the same from the log.
	other := startReplica(t, srv.ClientURL())
	for _, cell := range []string{"ob.a", "ob.new"} {
		a, _ := r.Get(cell)
		b, _ := other.Get(cell)
		if !lattice.Equal(a.Value, b.Value) {
			t.Fatalf("%s: %v here, %v in the log", cell, a.Value, b.Value)
		}
	}
}

// nextEvent returns w's next event of cell.
func nextEvent(t *testing.T, w *replica.Watcher, cell string) replica.Event {
	t.Helper()
	for {
		ev, err := w.Next(ctxT(t))
		if err != nil {
			t.Fatalf("watch: %v", err)
		}
		if ev.Cell == cell {
			return ev
		}
	}
}

// A bounded outbox refuses what does not fit, and keeps what it took.
func TestOutboxFull(t *testing.T) {
	srv := runBroker(t)
	r := startReplica(t, srv.ClientURL(), withOutbox(filepath.Join(t.TempDir(), "outbox")), func(c *replica.Config) { c.OutboxMaxBytes = 400 })
	srv.Shutdown()
	var taken int
	var err error
	for i := range 100 {
		if _, err = r.Refine(ctxT(t), "full.c", lattice.Max{Value: float64(i)}); err != nil {
			break
		}
		taken++
	}
	if !errors.Is(err, replica.ErrOutboxFull) || taken == 0 {
		t.Fatalf("after %d refines: %v, want ErrOutboxFull", taken, err)
	}
	if !strings.Contains(err.Error(), "full.c") {
		t.Fatalf("the error does not name the cell: %v", err)
	}
	if st := r.Outbox(); st.Pending != taken {
		t.Fatalf("outbox %+v, want %d pending", st, taken)
	}
}

// Pending updates survive a restart of the sidecar, and a torn record at
// the end of the file is set aside without losing the intact ones.
func TestOutboxRestartTornTail(t *testing.T) {
	srv := runBroker(t)
	path := filepath.Join(t.TempDir(), "outbox")
	r := startReplica(t, srv.ClientURL(), withOutbox(path))
	srv.Shutdown()
	refineReport(t, r, "torn.a", lattice.Max{Value: 3})
	refineReport(t, r, "torn.b", lattice.Max{Value: 4})
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte{0, 0, 1, 0, 9, 9, 9, 9, '{', '"'}); err != nil { // a record cut short
		t.Fatal(err)
	}
	f.Close()

	// Started again with the broker still down.
	rec, log := brokertest.NewRecorder()
	nc := brokertest.Connect(t, broker.ConnConfig{URLs: []string{srv.ClientURL()}, RetryOnFailedConnect: true, ReconnectWait: 50 * time.Millisecond})
	r2, err := replica.Start(ctxT(t), replica.Config{Conn: nc, Logger: log, OutboxPath: path, OutboxAfter: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r2.Close() })
	st := r2.Outbox()
	if st.Pending != 2 || st.Torn == 0 || st.TornFile == "" {
		t.Fatalf("outbox after restart: %+v, want 2 pending and a torn tail", st)
	}
	if len(rec.Matching(slog.LevelError, "outbox: a torn record at the end of the file was set aside; the intact records before it will be delivered")) != 1 {
		t.Fatal("no ERROR log for the torn tail")
	}
	if c, ok := r2.Get("torn.b"); !ok || c.Pending != 1 || !lattice.Equal(c.Value, lattice.Max{Value: 4}) {
		t.Fatalf("torn.b after restart: %+v", c)
	}
	srv = brokertest.RestartServer(t, srv)
	waitFor(t, "drained after the restart", func() bool { return r2.Outbox().Pending == 0 })
	check := startReplica(t, srv.ClientURL())
	if c, _ := check.Get("torn.a"); !lattice.Equal(c.Value, lattice.Max{Value: 3}) {
		t.Fatalf("torn.a in the log: %v", c.Value)
	}
}

// crashEnv names the phase a child process of TestOutboxCrash kills
// itself in, and where its broker stores and its outbox lives.
const (
	crashPhaseEnv = "DPROP_OUTBOX_CRASH_PHASE"
	crashDirEnv   = "DPROP_OUTBOX_CRASH_DIR"
)

// The process is killed between syncing an update and answering for it,
// and between the log's acknowledgement and the outbox's removal: started
// again on the same files, the sidecar delivers the update, and the log
// stores it once.
func TestOutboxCrash(t *testing.T) {
	for _, phase := range []string{"taken", "delivered"} {
		t.Run(phase, func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(os.Args[0], "-test.run=^TestOutboxCrashChild$", "-test.v")
			cmd.Env = append(os.Environ(), crashPhaseEnv+"="+phase, crashDirEnv+"="+dir)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("the child was not killed: %v\n%s", err, out)
			}
			srv := brokertest.RunServer(t, func(c *broker.Config) { c.StoreDir = filepath.Join(dir, "store") })
			r := startReplica(t, srv.ClientURL(), withOutbox(filepath.Join(dir, "outbox")))
			waitFor(t, "the update delivered", func() bool {
				c, _ := r.Get("crash.c")
				return r.Outbox().Pending == 0 && c.Pending == 0 && lattice.Equal(c.Value, lattice.Max{Value: 42})
			})
			if n := subjectCount(t, srv.ClientURL(), "crash.c"); n != 1 {
				t.Fatalf("the stream holds %d updates of crash.c, want 1", n)
			}
		})
	}
}

// TestOutboxCrashChild is TestOutboxCrash's child process: it refines
// with its broker down and kills itself at the phase asked.
func TestOutboxCrashChild(t *testing.T) {
	phase, dir := os.Getenv(crashPhaseEnv), os.Getenv(crashDirEnv)
	if phase == "" {
		t.Skip("run by TestOutboxCrash")
	}
	kill := func(string) { _ = syscall.Kill(os.Getpid(), syscall.SIGKILL) }
	if phase == "taken" {
		defer replica.SetOutboxHooks(kill, nil)()
	} else {
		defer replica.SetOutboxHooks(nil, kill)()
	}
	srv := brokertest.RunWithStream(t, func(c *broker.Config) { c.StoreDir = filepath.Join(dir, "store") })
	r := startReplica(t, srv.ClientURL(), withOutbox(filepath.Join(dir, "outbox")))
	srv.Shutdown()
	// Refine once the replica knows: a publish made before its client
	// noticed the broker gone would wait in the client's reconnect buffer
	// and be sent again after the reconnect, besides the outbox's copy.
	waitFor(t, "the replica to notice the broker gone", r.Stale)
	_, err := r.Refine(ctxT(t), "crash.c", lattice.Max{Value: 42})
	if phase == "taken" {
		t.Fatalf("refine answered (%v) though the process was to die before", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	brokertest.RestartServer(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	<-ctx.Done()
	t.Fatal("the update was not delivered")
}

// An acknowledgement that never comes does not stall the drain: the
// delivery is given up after the publish timeout, said in the outbox's
// last error, and tried again, and it succeeds once the log answers. (The
// docker fault tests found the drain waiting for ever on a publish sent
// while the stream's leader was cut off; here a subscriber that never
// answers stands for the lost answer.)
func TestOutboxDrainAckNeverComes(t *testing.T) {
	srv := runBroker(t)
	path := filepath.Join(t.TempDir(), "outbox")
	ob, _, err := outbox.Open(path, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	// A subject the stream does not take yet, where a subscriber swallows
	// the update: the publish has a responder, and no answer.
	if _, _, err := ob.Append(outbox.Record{Cell: "swallow.x", Subject: "swallow.x", Payload: []byte(`{"type":"max","value":7}`), MsgID: "lost-ack-1"}); err != nil {
		t.Fatal(err)
	}
	if err := ob.Close(); err != nil {
		t.Fatal(err)
	}
	nc := connect(t, srv.ClientURL())
	sub, err := nc.SubscribeSync("swallow.>")
	if err != nil {
		t.Fatal(err)
	}
	r := startReplica(t, srv.ClientURL(), withOutbox(path), func(c *replica.Config) { c.PublishTimeout = 300 * time.Millisecond })
	waitFor(t, "the drain giving the unanswered publish up", func() bool {
		return strings.Contains(r.Outbox().LastError, "timeout")
	})
	if _, err := sub.NextMsg(time.Second); err != nil {
		t.Fatalf("the update was not published: %v", err)
	}
	if st := r.Outbox(); st.Pending != 1 {
		t.Fatalf("outbox with the publish unanswered: %+v, want the update still pending", st)
	}
	// The stream takes the subject: the next try is acknowledged.
	js := brokertest.JetStream(t, nc)
	s, err := js.Stream(ctxT(t), "DPROP")
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.CachedInfo().Config
	cfg.Subjects = append(cfg.Subjects, "swallow.>")
	if _, err := js.UpdateStream(ctxT(t), cfg); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the update delivered once the log answers", func() bool { return r.Outbox().Pending == 0 })
	info, err := s.Info(ctxT(t), jetstream.WithSubjectFilter("swallow.x"))
	if err != nil {
		t.Fatal(err)
	}
	if n := info.State.Subjects["swallow.x"]; n != 1 {
		t.Fatalf("the stream holds %d messages on swallow.x, want 1", n)
	}
}
