package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/dprop/dprop/internal/brokertest"
)

// opsCluster is a broker and three sidecars (dprop replica), each with its
// own --data, as separate processes.
type opsCluster struct {
	natsURL string
	dir     string
	https   []string
	procs   []*proc
}

func startOpsCluster(t *testing.T, n int) *opsCluster {
	t.Helper()
	c := &opsCluster{dir: t.TempDir()}
	natsAddr := freePort(t)
	c.natsURL = "nats://" + natsAddr
	startDprop(t, "broker", "--data", filepath.Join(c.dir, "broker"), "--nats-listen", natsAddr)
	for i := range n {
		c.https = append(c.https, freePort(t))
		c.procs = append(c.procs, nil)
		c.start(t, i)
	}
	for i := range n {
		c.waitReady(t, i)
	}
	return c
}

func (c *opsCluster) start(t *testing.T, i int) {
	t.Helper()
	c.procs[i] = startDprop(t, "replica", "--nats-url", c.natsURL, "--http", c.https[i], "--data", filepath.Join(c.dir, fmt.Sprint("sidecar", i)))
}

func (c *opsCluster) waitReady(t *testing.T, i int) {
	t.Helper()
	brokertest.WaitFor(t, fmt.Sprintf("sidecar %d ready and serving operations over NATS", i), func() bool {
		code, _, _ := httpGet(t, "http://"+c.https[i]+"/readyz")
		return code == http.StatusOK && strings.Contains(c.procs[i].stderrText(), "operations served over NATS")
	})
}

// kill sends SIGKILL to sidecar i.
func (c *opsCluster) kill(i int) {
	p := c.procs[i]
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	err := <-p.done
	p.done <- err
}

// opAnswer is what one attempt at an operation got.
type opAnswer struct {
	status    int
	body      string
	duplicate bool
}

// postOp sends one operation over HTTP.
func postOp(ctx context.Context, hc *http.Client, addr, cell, body, key string) (opAnswer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/v1/cells/"+cell+"/ops", strings.NewReader(body))
	if err != nil {
		return opAnswer{}, err
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return opAnswer{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return opAnswer{resp.StatusCode, string(b), resp.Header.Get("Dprop-Duplicate") == "true"}, nil
}

// requestOp sends one operation to the NATS service.
func requestOp(nc *nats.Conn, cell, body, key string) (opAnswer, error) {
	msg := nats.NewMsg("dprop.op." + cell)
	msg.Data = []byte(body)
	msg.Header.Set("Idempotency-Key", key)
	resp, err := nc.RequestMsg(msg, 10*time.Second)
	if err != nil {
		return opAnswer{}, err
	}
	if code := resp.Header.Get(micro.ErrorCodeHeader); code != "" {
		var status int
		fmt.Sscan(code, &status)
		return opAnswer{status: status, body: resp.Header.Get(micro.ErrorHeader)}, nil
	}
	return opAnswer{200, string(resp.Data), resp.Header.Get("Dprop-Duplicate") == "true"}, nil
}

func counterTotal(t *testing.T, body string) int64 {
	t.Helper()
	var v struct{ Counts map[string]int64 }
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("not a counter: %s", body)
	}
	var n int64
	for _, c := range v.Counts {
		n += c
	}
	return n
}

// Exactly once under faults: three sidecars on one broker, 8 clients each
// (6 over HTTP to their sidecar, 2 through the NATS service, which any
// sidecar answers), 500 increments per client over 4 counters, each with
// its own idempotency key, retried on any error or timeout (at the next
// sidecar) and some retried after success too; meanwhile one sidecar is
// killed with SIGKILL and restarted on the same --data. At the end every
// counter, at every sidecar, holds exactly the number of distinct
// increments acknowledged.
func TestEndToEndOperationsExactlyOnce(t *testing.T) {
	const (
		sidecars   = 3
		perSidecar = 8
		natsPer    = 2
		each       = 500
		counters   = 4
	)
	c := startOpsCluster(t, sidecars)
	hc := &http.Client{Timeout: 10 * time.Second}
	var (
		acked     [counters]atomic.Int64
		done      atomic.Int64
		retries   atomic.Int64
		dupsAfter atomic.Int64
		failures  = make(chan error, sidecars*perSidecar)
		wg        sync.WaitGroup
	)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for s := range sidecars {
		for k := range perSidecar {
			var nc *nats.Conn
			if k < natsPer {
				var err error
				if nc, err = nats.Connect(c.natsURL); err != nil {
					t.Fatal(err)
				}
				defer nc.Close()
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				at := s
				for i := range each {
					cell := fmt.Sprintf("exact.c%d", (i+k)%counters)
					key := fmt.Sprintf("s%d-k%d-op%d", s, k, i)
					send := func() (opAnswer, error) {
						if nc != nil {
							return requestOp(nc, cell, `{"op":"inc"}`, key)
						}
						return postOp(ctx, hc, c.https[at], cell, `{"op":"inc"}`, key)
					}
					// Retried until acknowledged: on an error, a timeout
					// or a 5xx, at the next sidecar.
					var a opAnswer
					for {
						var err error
						if a, err = send(); err == nil && a.status == http.StatusOK {
							break
						}
						if ctx.Err() != nil {
							failures <- fmt.Errorf("op %s never acknowledged: last %d %s %v", key, a.status, a.body, err)
							return
						}
						if err == nil && a.status < 500 {
							failures <- fmt.Errorf("op %s refused: %d %s", key, a.status, a.body)
							return
						}
						retries.Add(1)
						at = (at + 1) % sidecars
						time.Sleep(20 * time.Millisecond)
					}
					acked[(i+k)%counters].Add(1)
					done.Add(1)
					if i%25 == 0 { // a retry after success: applied once
						if a2, err := send(); err == nil && a2.status == http.StatusOK && a2.duplicate {
							dupsAfter.Add(1)
						}
					}
				}
			}()
		}
	}
	// Kill sidecar 1 a third of the way, restart it on the same --data.
	total := int64(sidecars * perSidecar * each)
	brokertest.WaitFor(t, "a third of the operations acknowledged", func() bool { return done.Load() >= total/3 || ctx.Err() != nil })
	c.kill(1)
	killedAt := done.Load()
	brokertest.WaitFor(t, "more operations acknowledged without sidecar 1", func() bool { return done.Load() >= killedAt+500 || ctx.Err() != nil })
	c.start(t, 1)
	c.waitReady(t, 1)
	wg.Wait()
	close(failures)
	for err := range failures {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("%d operations acknowledged, %d retries after errors, %d retries after success told duplicates; killed at %d",
		done.Load(), retries.Load(), dupsAfter.Load(), killedAt)
	if retries.Load() == 0 {
		t.Error("killing a sidecar made no client retry: the fault was not exercised")
	}
	if dupsAfter.Load() == 0 {
		t.Error("no retry after success was told a duplicate")
	}
	for i := range counters {
		want := acked[i].Load()
		for s := range sidecars {
			cell := fmt.Sprintf("exact.c%d", i)
			var got int64
			brokertest.WaitFor(t, fmt.Sprintf("sidecar %d folds %s", s, cell), func() bool {
				code, _, body := httpGet(t, "http://"+c.https[s]+"/v1/cells/"+cell)
				if code == http.StatusOK {
					got = counterTotal(t, body)
				}
				return got >= want
			})
			if got != want {
				t.Errorf("sidecar %d: %s = %d, want exactly %d acknowledged increments", s, cell, got, want)
			}
		}
	}
}

// Exactly once for an orset, through two sidecars: an element added
// through one and removed through the other once its add was acknowledged
// is gone everywhere; an add the removal did not observe survives it;
// retried adds and removals apply once.
func TestEndToEndORSetThroughTwoSidecars(t *testing.T) {
	c := startOpsCluster(t, 2)
	hc := &http.Client{Timeout: 10 * time.Second}
	ctx := brokertest.Context(t)
	must := func(addr, body, key string) opAnswer {
		t.Helper()
		a, err := postOp(ctx, hc, addr, "exact.tags", body, key)
		if err != nil || a.status != http.StatusOK {
			t.Fatalf("%s %s: %d %s %v", addr, body, a.status, a.body, err)
		}
		return a
	}
	const pairs = 40
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < pairs; i += 4 {
				add := fmt.Sprintf(`{"op":"add","elems":["gone%d","kept%d"]}`, i, i)
				must(c.https[0], add, fmt.Sprint("add-", i))
				must(c.https[0], add, fmt.Sprint("add-", i)) // a retry: one dot each
				rm := fmt.Sprintf(`{"op":"remove","elem":"gone%d"}`, i)
				must(c.https[1], rm, fmt.Sprint("rm-", i))
				if a := must(c.https[0], rm, fmt.Sprint("rm-", i)); !a.duplicate {
					t.Errorf("retried removal %d at the other sidecar: not a duplicate", i)
				}
			}
		}()
	}
	wg.Wait()
	// An add the last removal did not observe (another writer's, sent
	// with the nats CLI) survives it.
	must(c.https[0], `{"op":"add","elem":"late"}`, "late-1")
	must(c.https[1], `{"op":"remove","elem":"late"}`, "late-rm")
	if _, errOut, code := runCmd(t, natsBin, "-s", c.natsURL, "pub", "dprop.cell.exact.tags",
		`{"type":"orset","elems":[{"elem":"late","dots":[["elsewhere",1]]}]}`); code != 0 {
		t.Fatalf("nats pub: %s", errOut)
	}
	for s, addr := range c.https {
		brokertest.WaitFor(t, fmt.Sprintf("sidecar %d holds the final set", s), func() bool {
			_, _, body := httpGet(t, "http://"+addr+"/v1/cells/exact.tags")
			return strings.Contains(body, `"late"`)
		})
		_, _, body := httpGet(t, "http://"+addr+"/v1/cells/exact.tags")
		var v struct {
			Elems []struct {
				Elem json.RawMessage
				Dots [][2]any
			}
		}
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			t.Fatal(err)
		}
		present := map[string]int{}
		for _, e := range v.Elems {
			var s string
			_ = json.Unmarshal(e.Elem, &s)
			present[s] = len(e.Dots)
		}
		for i := range pairs {
			if _, ok := present[fmt.Sprint("gone", i)]; ok {
				t.Errorf("sidecar %d: gone%d, removed after its add was acknowledged, is present", s, i)
			}
			if present[fmt.Sprint("kept", i)] != 1 {
				t.Errorf("sidecar %d: kept%d has %d dots, want 1 (added once, retried)", s, i, present[fmt.Sprint("kept", i)])
			}
		}
		if present["late"] != 1 || len(present) != pairs+1 {
			t.Errorf("sidecar %d: %s", s, body)
		}
	}
}

// The operations from the command line: dprop inc, dec, add, remove and
// set, and the nats CLI's request to the NATS service, with its errors;
// the writer id is the same on /readyz and in dprop version --json.
func TestEndToEndOperationsCLI(t *testing.T) {
	c := startOpsCluster(t, 1)
	api := "http://" + c.https[0]
	dprop := func(args ...string) (string, string, int) {
		t.Helper()
		return runCmd(t, dpropBin, append(args[:1:1], append([]string{"--url", api}, args[1:]...)...)...)
	}
	if out, errOut, code := dprop("inc", "jobs.done"); code != 0 || !strings.Contains(out, `"type":"gcounter"`) {
		t.Fatalf("dprop inc: %d %s %s", code, out, errOut)
	}
	for i := range 2 {
		out, errOut, code := dprop("inc", "jobs.done", "4", "--idempotency-key", "batch-9")
		if code != 0 || !strings.Contains(out, ":5}") || (i == 1) != strings.Contains(errOut, "already applied") {
			t.Fatalf("dprop inc 4 (try %d): %d %s %s", i, code, out, errOut)
		}
	}
	if _, errOut, code := dprop("dec", "jobs.done"); code != 1 || !strings.Contains(errOut, "pncounter") || !strings.Contains(errOut, "409") {
		t.Fatalf("dprop dec on a gcounter: %d %s", code, errOut)
	}
	if _, errOut, code := dprop("inc", "jobs.done", "-3"); code != 2 {
		t.Fatalf("dprop inc -3: exit %d %s, want a usage error", code, errOut)
	}
	if out, _, code := dprop("add", "tags", "go", "nats", "3"); code != 0 || !strings.Contains(out, `"elem":3`) || !strings.Contains(out, `"elem":"go"`) {
		t.Fatalf("dprop add: %d %s", code, out)
	}
	if out, _, code := dprop("remove", "tags", "go"); code != 0 || strings.Contains(out, `"go"`) || !strings.Contains(out, `"nats"`) {
		t.Fatalf("dprop remove: %d %s", code, out)
	}
	if out, _, code := dprop("set", "motd", `"hello"`); code != 0 || !strings.Contains(out, `"value":"hello"`) {
		t.Fatalf("dprop set: %d %s", code, out)
	}

	out, errOut, code := runCmd(t, natsBin, "-s", c.natsURL, "req", "dprop.op.jobs.done", `{"op":"inc"}`)
	if code != 0 || !strings.Contains(out, `:6}`) {
		t.Fatalf("nats req inc: %d %s %s", code, out, errOut)
	}
	_, errOut, _ = runCmd(t, natsBin, "-s", c.natsURL, "req", "dprop.op.jobs.done", `{"op":"dec"}`)
	if !strings.Contains(errOut, "Nats-Service-Error-Code: 409") || !strings.Contains(errOut, "not_applicable") {
		t.Fatalf("nats req dec: %s", errOut)
	}
	out, _, code = runCmd(t, natsBin, "-s", c.natsURL, "micro", "list", "--json")
	if code != 0 || !strings.Contains(out, `"dprop"`) {
		t.Fatalf("nats micro list: %s", out)
	}

	_, _, rd := httpGet(t, api+"/readyz")
	var ready struct{ Writer string }
	_ = json.Unmarshal([]byte(rd), &ready)
	ver, _, _ := runCmd(t, dpropBin, "version", "--json", "--data", filepath.Join(c.dir, "sidecar0"))
	if ready.Writer == "" || !strings.Contains(ver, `"writer":"`+ready.Writer+`"`) {
		t.Fatalf("writer: /readyz %s, version %s", rd, ver)
	}
}
