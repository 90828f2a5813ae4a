package replica_test

import (
	"encoding/json"
	"testing"
	"time"
)

// A replica's consumer asks the server for 4 MiB of messages at a time,
// not the client's default of 500 messages: handling a pull request every
// 250 messages cost a resync 12-16% more CPU (docs/performance.md).
func TestConsumerPullsLargeBatches(t *testing.T) {
	srv := runBroker(t)
	watch := connect(t, srv.ClientURL())
	reqs, err := watch.SubscribeSync("$JS.API.CONSUMER.MSG.NEXT.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := watch.Flush(); err != nil {
		t.Fatal(err)
	}
	startReplica(t, srv.ClientURL())
	m, err := reqs.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatalf("no pull request seen: %v", err)
	}
	var req struct {
		Batch    int `json:"batch"`
		MaxBytes int `json:"max_bytes"`
	}
	if err := json.Unmarshal(m.Data, &req); err != nil {
		t.Fatalf("pull request %q: %v", m.Data, err)
	}
	if req.MaxBytes < 4<<20 || req.Batch < 10_000 {
		t.Errorf("pull request asks for %d messages, %d bytes; want at least 10000 and 4 MiB (%s)", req.Batch, req.MaxBytes, m.Data)
	}
}
