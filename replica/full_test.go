package replica_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dprop/dprop/replica"
)

// What JetStream answers when it has no room, and only that, is a full
// stream: wrapped as Refine wraps it.
func TestIsStreamFull(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{&jetstream.APIError{Code: 503, ErrorCode: 10077, Description: "maximum bytes exceeded"}, true},
		{&jetstream.APIError{Code: 503, ErrorCode: 10077, Description: "maximum messages exceeded"}, true},
		{&jetstream.APIError{Code: 503, ErrorCode: 10023, Description: "insufficient resources"}, true},
		{&jetstream.APIError{Code: 503, ErrorCode: 10077, Description: "message size exceeds maximum allowed"}, false},
		{&jetstream.APIError{Code: 503, ErrorCode: 10077, Description: "store closed"}, false},
		{&jetstream.APIError{Code: 400, ErrorCode: 10071, Description: "wrong last sequence: 3"}, false},
		{errors.New("maximum bytes exceeded"), false},
		{replica.ErrNotConnected, false},
		{nil, false},
	}
	for _, tt := range tests {
		if got := replica.IsStreamFull(tt.err); got != tt.want {
			t.Errorf("IsStreamFull(%v) = %t, want %t", tt.err, got, tt.want)
		}
		if tt.err == nil {
			continue
		}
		if got := replica.IsStreamFull(fmt.Errorf("refine %q: publish: %w", "c", tt.err)); got != tt.want {
			t.Errorf("IsStreamFull(wrapped %v) = %t, want %t", tt.err, got, tt.want)
		}
	}
}
