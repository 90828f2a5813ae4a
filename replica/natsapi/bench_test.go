package natsapi_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"

	"github.com/dprop/dprop/broker"
	"github.com/dprop/dprop/internal/brokertest"
	"github.com/dprop/dprop/replica"
	"github.com/dprop/dprop/replica/httpapi"
	"github.com/dprop/dprop/replica/natsapi"
)

// BenchmarkHotCounter measures increments per second of one hot counter
// with 1, 8 and 64 clients: through a sidecar's HTTP API and its NATS
// service, against, on the same server in the same run, a NATS KV
// read-increment-compare-and-set loop and NATS's own counters (Nats-Incr
// on a stream with AllowMsgCounter). Each increment waits for its answer:
// the stream's acknowledgement (and, for dprop, the fold). nats-echo, a
// NATS request answered at once by a plain subscriber, is the most any
// NATS service can do with as many clients: an operation through dprop's
// service is such a request plus the update's publish. cpu-us/inc is the
// CPU time of the whole process (clients, sidecar and server) per
// increment, steadier than the rate on a shared machine.
//
//	go test -run '^$' -bench HotCounter -benchtime 3s ./replica/natsapi
func BenchmarkHotCounter(b *testing.B) {
	srv := brokertest.RunWithStream(b)
	url := srv.ClientURL()
	nc := brokertest.Connect(b, broker.ConnConfig{URLs: []string{url}})
	r, err := replica.Start(brokertest.Context(b), replica.Config{Conn: nc, Logger: brokertest.Logger()})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	<-r.Ready()
	svc, err := natsapi.Serve(nc, r, natsapi.Options{Logger: brokertest.Logger()})
	if err != nil {
		b.Fatal(err)
	}
	defer svc.Stop()
	api := httptest.NewServer(httpapi.New(r, httpapi.Options{Logger: brokertest.Logger()}))
	defer api.Close()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}}

	clientConn := brokertest.Connect(b, broker.ConnConfig{URLs: []string{url}})
	js := brokertest.JetStream(b, clientConn)
	ctx := context.Background()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := kv.Put(ctx, "hot", []byte("0")); err != nil {
		b.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "COUNTERS", Subjects: []string{"cnt.>"}, AllowMsgCounter: true, AllowDirect: true}); err != nil {
		b.Fatal(err)
	}

	echo, err := nc.Subscribe("echo.hot", func(m *nats.Msg) { _ = m.Respond(m.Data) })
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = echo.Unsubscribe() }()

	ways := []struct {
		name string
		inc  func() error
	}{
		{"dprop-http", func() error {
			resp, err := hc.Post(api.URL+"/v1/cells/hot/ops", "application/json", bytes.NewReader([]byte(`{"op":"inc"}`)))
			if err != nil {
				return err
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("status %d", resp.StatusCode)
			}
			return nil
		}},
		{"dprop-nats", func() error {
			resp, err := clientConn.Request("dprop.op.hot", []byte(`{"op":"inc"}`), 10*time.Second)
			if err == nil && resp.Header.Get(micro.ErrorCodeHeader) != "" {
				err = errors.New(resp.Header.Get(micro.ErrorHeader))
			}
			return err
		}},
		{"nats-echo", func() error {
			_, err := clientConn.Request("echo.hot", []byte(`{"op":"inc"}`), 10*time.Second)
			return err
		}},
		{"kv-cas", func() error {
			for {
				e, err := kv.Get(ctx, "hot")
				if err != nil {
					return err
				}
				n, _ := strconv.Atoi(string(e.Value()))
				_, err = kv.Update(ctx, "hot", []byte(strconv.Itoa(n+1)), e.Revision())
				if err == nil {
					return nil
				}
				var apiErr *jetstream.APIError
				if !errors.As(err, &apiErr) || apiErr.ErrorCode != jetstream.JSErrCodeStreamWrongLastSequence {
					return err
				}
			}
		}},
		{"nats-incr", func() error {
			msg := nats.NewMsg("cnt.hot")
			msg.Header.Set("Nats-Incr", "1")
			_, err := js.PublishMsg(ctx, msg)
			return err
		}},
	}
	for _, clients := range []int{1, 8, 64} {
		for _, w := range ways {
			b.Run(fmt.Sprintf("clients=%d/%s", clients, w.name), func(b *testing.B) {
				var next atomic.Int64
				var wg sync.WaitGroup
				errs := make(chan error, clients)
				cpu := brokertest.CPUTime()
				b.ResetTimer()
				for range clients {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for next.Add(1) <= int64(b.N) {
							if err := w.inc(); err != nil {
								errs <- err
								return
							}
						}
					}()
				}
				wg.Wait()
				b.StopTimer()
				close(errs)
				for err := range errs {
					b.Fatal(err)
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "incs/s")
				b.ReportMetric(float64((brokertest.CPUTime()-cpu).Microseconds())/float64(b.N), "cpu-us/inc")
				b.ReportMetric(0, "ns/op")
			})
		}
	}
	b.StopTimer()
}
