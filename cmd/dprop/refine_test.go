package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// dprop refine says when its --idempotency-key found the update already
// stored, and, when the key named another value, that each new value needs
// its own key (exit status 1).
func TestRefineIdempotencyKeyMessages(t *testing.T) {
	var duplicate atomic.Bool
	duplicate.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Idempotency-Key") != "order-42" {
			http.Error(w, "no key", http.StatusBadRequest)
			return
		}
		if duplicate.Load() {
			w.Header().Set("Dprop-Duplicate", "true")
			w.Write([]byte(`{"type":"max","value":5}`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnprocessableEntity)
		w.Write([]byte(`{"error":"cell \"c\": idempotency key already used for another update","cell":"c","reason":"idempotency_key_reused"}`))
	}))
	defer srv.Close()
	status, stderr := exitCode(t, "refine", "--url", srv.URL, "--idempotency-key", "order-42", "c", `{"type":"max","value":5}`)
	if status != 0 || !strings.Contains(stderr, "already stored") {
		t.Errorf("duplicate: status %d, stderr %q", status, stderr)
	}
	duplicate.Store(false)
	status, stderr = exitCode(t, "refine", "--url", srv.URL, "--idempotency-key", "order-42", "c", `{"type":"max","value":6}`)
	if status != 1 || !strings.Contains(stderr, "HTTP 422") || !strings.Contains(stderr, "give each new value its own key") {
		t.Errorf("reused key: status %d, stderr %q", status, stderr)
	}
}
