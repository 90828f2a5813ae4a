package faults

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"
)

// Row is one scenario's line in the report.
type Row struct {
	Scenario  string
	Attempted int
	Acked     int
	// ByLog and ByOutbox split Acked: the updates the log acknowledged
	// (a sidecar's 200, JetStream's PubAck) and those a sidecar kept in
	// its outbox (202).
	ByLog, ByOutbox int
	Lost            int
	// Unavailable counts the 503 answers to the writers.
	Unavailable int
	// Detected is the time from the fault until the sidecars it concerned
	// noticed it: /readyz 503 for a sidecar cut off, the connection given
	// up for the sidecars of a paused broker (0: not measured).
	Detected time.Duration
	// Recovery is the time from the heal until every sidecar holds every
	// write acknowledged before it, has its outbox empty, and has had a
	// new write acknowledged by the log.
	Recovery time.Duration
	// CatchUp is the time from the heal until the sidecar that was cut
	// off holds every write acknowledged before the heal (0: not
	// measured).
	CatchUp time.Duration
	// Converge is the time from the writers' stop until every replica,
	// and a fresh fold of the stream, are equal and hold every
	// acknowledged write.
	Converge time.Duration
	Notes    string
}

// Machine describes where the run happened.
type Machine struct {
	Date          time.Time
	Host          string
	CPUs          int
	CPU           string
	OS            string
	Docker        string
	Compose       string
	Go            string
	Total         time.Duration
	WriteInterval time.Duration
	// Deployment lists the limits the containers ran with.
	Deployment []string
}

// DescribeMachine reads what the report says about this machine.
func DescribeMachine(ctx context.Context, compose *Compose) Machine {
	m := Machine{Date: time.Now().UTC(), CPUs: runtime.NumCPU(), OS: runtime.GOOS + "/" + runtime.GOARCH,
		Go: runtime.Version(), Compose: compose.Command()}
	m.Host, _ = os.Hostname()
	m.CPU = cpuModel()
	if v, err := Docker(ctx, "version", "-f", "{{.Server.Version}}"); err == nil {
		m.Docker = v
	}
	if v, err := compose.Run(ctx, "version", "--short"); err == nil {
		m.Compose += " " + v
	}
	return m
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// WriteReport writes the report as Markdown.
func WriteReport(w io.Writer, m Machine, rows []Row) error {
	b := &strings.Builder{}
	fmt.Fprintf(b, `# Fault tests: measured

Written by the fault tests themselves (`+"`.ci/faults`"+`, which runs
`+"`internal/faults/`"+`); do not edit by hand. How the scenarios work:
[internal/faults/doc.go](../internal/faults/doc.go) and
[internal/faults/scenarios_test.go](../internal/faults/scenarios_test.go); the deployment
they test is the demo's own, [docker-compose.yml](../docker-compose.yml)
([deploy.md](deploy.md)), with
[internal/faults/faults.override.yml](../internal/faults/faults.override.yml).

- Run: %s, %s in all (image build not included)
- Machine: %s, %d CPUs (%s), %s
- Docker engine %s, %s, %s
- Cluster: the three broker nodes of docker-compose.yml (stream at three
  replicas) and its three sidecars: writer-sidecar (cut off; killed,
  then wiped; killed while cut off, its outbox torn), reader-sidecar,
  celsius (compacting every 2 s); the apps are
  not started. Writers on every sidecar write, to the cells it holds, a
  max, a range, a gcounter slot of their own and set elements of their
  own, one update every %v per writer, throughout each scenario. Every
  sidecar has --data, hence an outbox (DATA/outbox.log): a refine the log
  cannot acknowledge within a second is kept there, synced, and answered
  202; it is delivered once the log is back.
- Limits, as docker-compose.yml sets them:
`, m.Date.Format("2006-01-02 15:04 MST"), m.Total.Round(time.Second), m.Host, m.CPUs, m.CPU, m.OS,
		m.Docker, m.Compose, m.Go, m.WriteInterval)
	for _, d := range m.Deployment {
		fmt.Fprintf(b, "  - %s\n", d)
	}
	b.WriteString(`
Every row passed these checks: every replica, and a fresh fold of the
stream, reached the same state on the cells it holds, with
join(acknowledged) ⊑ state ⊑ join(attempted) for every cell; *lost*
counts acknowledged updates missing from it. An update is acknowledged
by the log (*200*: a sidecar's 200, or JetStream's PubAck to a
publisher) or by a sidecar's outbox (*202*); *503* counts the writers'
refines answered 503 (the probes, which ask for the log's
acknowledgement with ` + "`Prefer: ack=log`" + `, are not counted there). *Detected* is the time from
the fault until the sidecars it concerned noticed it: the cut-off
sidecar's ` + "`/readyz`" + ` answering 503, the sidecars of a paused broker
logging that they gave its connection up. *Recovery* is the time from the
heal (the moment ` + "`docker start`" + `, ` + "`docker unpause`" + `, ` + "`docker network connect`" + `
or ` + "`compose up`" + ` returned) until every sidecar holds every write
acknowledged before the heal, every sidecar's outbox is empty (what it
took during the fault is in the log), and the log has acknowledged a new
write through every sidecar (a probe with ` + "`Prefer: ack=log`" + `, apart
from the writers); for broker faults, also until the stream has a leader
and two current followers again: the time to converge after healing. *Catch-up* is the time from the heal
until the sidecar that was cut off holds every write acknowledged before
the heal. *Converge* is the time from the writers' stop until every
replica is equal and holds every acknowledged write.

| scenario | writes attempted | acknowledged | 200 | 202 | lost | 503 | detected | recovery | catch-up | converge | notes |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |
`)
	for _, r := range rows {
		fmt.Fprintf(b, "| %s | %d | %d | %d | %d | %d | %d | %s | %s | %s | %s | %s |\n", r.Scenario, r.Attempted, r.Acked, r.ByLog, r.ByOutbox,
			r.Lost, r.Unavailable, duration(r.Detected), duration(r.Recovery), duration(r.CatchUp), duration(r.Converge), r.Notes)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func duration(d time.Duration) string {
	switch {
	case d <= 0:
		return "—"
	case d < time.Second:
		return fmt.Sprintf("%d ms", max(1, d.Milliseconds()))
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}
