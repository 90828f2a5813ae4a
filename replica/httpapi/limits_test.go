package httpapi_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/dprop/dprop/replica/httpapi"
)

// dial opens a raw connection to the sidecar; the test closes it.
func (sc *sidecar) dial(t *testing.T) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", sc.ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedByServer reads c until the server closes it, and fails the test if
// that does not happen within testTimeout. It returns what was read.
func closedByServer(t *testing.T, c net.Conn, what string) string {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(testTimeout)); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("%s: the server still holds the connection after %v", what, testTimeout)
	}
	return string(b)
}

// A client sending its body a byte at a time, one that never finishes its
// headers, and a keep-alive connection left idle are all cut by the
// server's timeouts; the slow body gets 408 if it still reads.
func TestServerTimeoutsCloseConnections(t *testing.T) {
	srv := runBroker(t)
	const d = 300 * time.Millisecond
	sc := newSidecar(t, srv.ClientURL(), httpapi.Options{ReadHeaderTimeout: d, ReadTimeout: d, IdleTimeout: d})

	slow := sc.dial(t)
	fmt.Fprint(slow, "POST /v1/cells/a HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n")
	go func() { // a byte every 50ms, until the server hangs up
		for _, b := range []byte(`{"type":"max","value":1}` + strings.Repeat(" ", 76)) {
			if _, err := slow.Write([]byte{b}); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	if got := closedByServer(t, slow, "slow body"); got != "" && !strings.Contains(got, "408 Request Timeout") {
		t.Errorf("slow body answered %q, want 408", got)
	}

	headers := sc.dial(t)
	fmt.Fprint(headers, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
	closedByServer(t, headers, "unfinished headers")

	idle := sc.dial(t)
	fmt.Fprint(idle, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	br := bufio.NewReader(idle)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Close {
		t.Fatalf("healthz: %d, close %v", resp.StatusCode, resp.Close)
	}
	closedByServer(t, idle, "idle keep-alive connection")
}

// Requests that wait outlive the server's read and write timeouts: an
// event stream as long as its client reads (shown by heartbeats spanning
// several timeouts, then an event), a threshold read until its own timeout.
func TestLongRequestsOutliveServerTimeouts(t *testing.T) {
	srv := runBroker(t)
	const d = 200 * time.Millisecond
	const beat = 20 * time.Millisecond
	sc := newSidecar(t, srv.ClientURL(), httpapi.Options{ReadTimeout: d, WriteTimeout: d, Heartbeat: beat})

	_, next := rawStream(t, sc, "/v1/cells/a.x/events")
	for beats := 0; beats < int(4*d/beat); {
		if next() == ": heartbeat" {
			beats++
		}
	}
	sc.do(t, "POST", "/v1/cells/a.x", `{"type":"max","value":1}`).want(t, http.StatusOK)
	for next() != "event: change" {
	}

	q := url.Values{"await": {`{"type":"max","value":5}`}, "timeout": {(4 * d).String()}}
	a := sc.do(t, "GET", "/v1/cells/a.x?"+q.Encode(), "").want(t, http.StatusGatewayTimeout)
	if _, _, reason := errorOf(t, a); reason != httpapi.ReasonTimeout {
		t.Fatalf("await: reason %q", reason)
	}
}

// Event streams and threshold reads are bounded: past the bound the answer
// is 503 busy with Retry-After, and a slot freed is usable again.
func TestStreamAndAwaitBounds(t *testing.T) {
	srv := runBroker(t)
	sc := newSidecar(t, srv.ClientURL(), httpapi.Options{MaxStreams: 2, MaxAwaits: 2})
	busy := func(a answer) {
		t.Helper()
		a.want(t, http.StatusServiceUnavailable)
		if _, _, reason := errorOf(t, a); reason != httpapi.ReasonBusy || a.header.Get("Retry-After") == "" {
			t.Fatalf("over the bound: reason %q, Retry-After %q", reason, a.header.Get("Retry-After"))
		}
	}

	w1, w2 := watch(t, sc.c, "a.>"), watch(t, sc.c, "b.x")
	sc.waitStreams(t, 2)
	busy(sc.do(t, "GET", "/v1/events?match=c.>", ""))
	busy(sc.do(t, "GET", "/v1/cells/a.x/events", ""))
	w1.cancel()
	sc.waitStreams(t, 1)
	w3 := watch(t, sc.c, "c.>")
	sc.waitStreams(t, 2)
	w2.cancel()
	w3.cancel()

	path := "/v1/cells/n.x?" + url.Values{"await": {`{"type":"max","value":5}`}}.Encode()
	done := make(chan answer, 2)
	for range 2 {
		go func() { done <- sc.do(t, "GET", path, "") }()
	}
	waitFor(t, "two threshold reads pending", func() bool { return metric(t, sc.reg, "dprop_http_pending_awaits") == 2 })
	busy(sc.do(t, "GET", path, ""))
	sc.do(t, "POST", "/v1/cells/n.x", `{"type":"max","value":5}`).want(t, http.StatusOK)
	for range 2 {
		(<-done).want(t, http.StatusOK)
	}
	waitFor(t, "no threshold read pending", func() bool { return metric(t, sc.reg, "dprop_http_pending_awaits") == 0 })
	sc.do(t, "GET", path, "").want(t, http.StatusOK)
}

// Threshold reads whose clients leave are released promptly: the
// pending-await gauge returns to 0 and each is counted as 499.
func TestAbandonedAwaitsReleased(t *testing.T) {
	srv := runBroker(t)
	sc := newSidecar(t, srv.ClientURL(), httpapi.Options{})
	const n = 1000
	q := url.Values{"await": {`{"type":"max","value":5}`}, "timeout": {"5m"}}.Encode()
	conns := make([]net.Conn, n)
	for i := range conns {
		conns[i] = sc.dial(t)
		fmt.Fprintf(conns[i], "GET /v1/cells/c%d.x?%s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", i%10, q)
	}
	waitFor(t, "every threshold read pending", func() bool { return metric(t, sc.reg, "dprop_http_pending_awaits") == n })
	for _, c := range conns {
		c.Close()
	}
	waitFor(t, "every abandoned threshold read released", func() bool { return metric(t, sc.reg, "dprop_http_pending_awaits") == 0 })
	if got := metric(t, sc.reg, "dprop_http_requests_total", "code", "499"); got != n {
		t.Errorf("%v requests counted as 499, want %d", got, n)
	}
}

// A threshold read or event stream with a body is refused: net/http would
// not notice its client leaving until the body was read, so an abandoned
// one was held until its timeout.
func TestLongGetsTakeNoBody(t *testing.T) {
	srv := runBroker(t)
	sc := newSidecar(t, srv.ClientURL(), httpapi.Options{})
	await := "/v1/cells/a.x?" + url.Values{"await": {`{"type":"max","value":5}`}, "timeout": {"5m"}}.Encode()
	for _, path := range []string{await, "/v1/cells/a.x/events", "/v1/events"} {
		a := sc.do(t, "GET", path, "hello").want(t, http.StatusBadRequest)
		if _, _, reason := errorOf(t, a); reason != httpapi.ReasonBadParameter {
			t.Fatalf("%s: reason %q", path, reason)
		}
	}
	if got := metric(t, sc.reg, "dprop_http_pending_awaits"); got != 0 {
		t.Fatalf("%v threshold reads pending", got)
	}
}
