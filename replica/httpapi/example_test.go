package httpapi_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"net/http/httptest"
	"os"

	"github.com/dprop/dprop/broker"
	"github.com/dprop/dprop/replica"
	"github.com/dprop/dprop/replica/httpapi"
	"github.com/nats-io/nats.go/jetstream"
)

// A broker, a replica and its HTTP API; the seed's temperature readings are
// refined through the client and read back merged.
func Example() {
	dir, err := os.MkdirTemp("", "dprop-httpapi-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	srv, err := broker.Start(broker.Config{StoreDir: dir, Listen: "127.0.0.1:0"})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Shutdown()
	nc, err := broker.Connect(broker.ConnConfig{URLs: []string{srv.ClientURL()}}, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	ctx := context.Background()
	js, err := jetstream.New(nc)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := broker.EnsureStream(ctx, js, broker.StreamConfig{}); err != nil {
		log.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	r, err := replica.Start(ctx, replica.Config{Conn: nc, Logger: quiet})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	<-r.Ready()

	api := httpapi.New(r, httpapi.Options{Logger: quiet})
	ts := httptest.NewServer(api) // dprop serves it on 127.0.0.1:37767
	defer ts.Close()
	defer api.Close()

	c := httpapi.NewClient(ts.URL, nil)
	for _, day := range []string{
		`{"type":"range","min":34,"max":48}`,
		`{"type":"range","min":36,"max":43}`,
		`{"type":"range","min":31,"max":57}`,
	} {
		if _, err := c.Refine(ctx, "weather.boston.temp", []byte(day)); err != nil {
			log.Fatal(err)
		}
	}
	cell, err := c.Get(ctx, "weather.boston.temp")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(cell.Value), cell.Type, cell.Seq, cell.Updates)

	_, err = c.Refine(ctx, "weather.boston.temp", []byte(`{"type":"max","value":3}`))
	fmt.Println(err)
	// Output:
	// {"type":"range","min":31,"max":57} range 3 3
	// dprop: 409 Conflict: cell "weather.boston.temp": update refused (type_mismatch): type differs from the cell's type: update is max, cell is range
}
