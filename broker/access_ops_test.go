package broker_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go/micro"

	"github.com/dprop/dprop/broker"
)

// Operations over NATS under the roles: a sidecar serves the dprop micro
// service on its cells' operation subjects and answers discovery; a
// writer sends operations on its cells and no others; a reader sends
// none.
func TestRolesServeAndSendOperations(t *testing.T) {
	srv := accessServer(t)
	sidecar := connectAs(t, srv, broker.RoleSidecar)
	svc, err := micro.AddService(sidecar, micro.Config{Name: "dprop", Version: "0.0.0", QueueGroup: "dprop"})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Stop()
	if err := svc.AddEndpoint("op", micro.HandlerFunc(func(r micro.Request) { _ = r.Respond([]byte("applied " + r.Subject())) }),
		micro.WithEndpointSubject("dprop.op.weather.>"), micro.WithEndpointQueueGroup("dprop")); err != nil {
		t.Fatal(err)
	}
	if err := sidecar.Flush(); err != nil {
		t.Fatal(err)
	}
	writer := connectAs(t, srv, broker.RoleWriter)
	resp, err := writer.Request("dprop.op.weather.boston", []byte(`{"op":"inc"}`), 5*time.Second)
	if err != nil || string(resp.Data) != "applied dprop.op.weather.boston" {
		t.Fatalf("writer's operation on its cells: %v %v", resp, err)
	}
	if _, err := writer.Request("dprop.op.traffic.i90", []byte(`{"op":"inc"}`), 300*time.Millisecond); !denied(err) {
		t.Fatalf("writer's operation outside its cells: %v, want it denied", err)
	}
	reader := connectAs(t, srv, broker.RoleReader)
	if _, err := reader.Request("dprop.op.weather.boston", []byte(`{"op":"inc"}`), 300*time.Millisecond); !denied(err) {
		t.Fatalf("reader's operation: %v, want it denied", err)
	}
	admin := connectAs(t, srv, broker.RoleAdmin)
	info, err := admin.Request("$SRV.INFO.dprop", nil, 5*time.Second)
	if err != nil {
		t.Fatalf("service discovery: %v", err)
	}
	var si micro.Info
	if err := json.Unmarshal(info.Data, &si); err != nil || si.Name != "dprop" {
		t.Fatalf("service info: %s %v", info.Data, err)
	}
}
