package broker_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/dprop/dprop/broker"
	"github.com/nats-io/nats.go/jetstream"
)

// An embedded broker, the stream, and one update published to a cell.
func Example() {
	dir, err := os.MkdirTemp("", "dprop-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	srv, err := broker.Start(broker.Config{StoreDir: dir, Listen: "127.0.0.1:0"})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Shutdown()

	nc, err := broker.Connect(broker.ConnConfig{URLs: []string{srv.ClientURL()}, Name: "example"}, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		log.Fatal(err)
	}

	ctx := context.Background()
	stream, err := broker.EnsureStream(ctx, js, broker.StreamConfig{})
	if err != nil {
		log.Fatal(err)
	}
	ack, err := js.Publish(ctx, "dprop.cell.weather.boston.temp", []byte(`{"type":"range","min":34,"max":48}`))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(stream.CachedInfo().Config.Subjects, ack.Stream, ack.Sequence)
	// Output: [dprop.cell.> dprop.forget.>] DPROP 1
}
