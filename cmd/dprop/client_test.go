package main

import (
	"strings"
	"testing"
)

func TestSidecarURL(t *testing.T) {
	for _, tt := range []struct {
		in, want string // want "" means an error mentioning wantErr
		wantErr  string
	}{
		{"http://127.0.0.1:37767", "http://127.0.0.1:37767", ""},
		{"127.0.0.1:37767", "http://127.0.0.1:37767", ""},
		{"localhost:37767", "http://localhost:37767", ""},
		{"[::1]:37767", "http://[::1]:37767", ""},
		{"  127.0.0.1:37767 ", "http://127.0.0.1:37767", ""},
		{"http://127.0.0.1:37767/", "http://127.0.0.1:37767", ""},
		{"http://127.0.0.1:37767/v1", "http://127.0.0.1:37767", ""},
		{"http://127.0.0.1:37767/v1/", "http://127.0.0.1:37767", ""},
		{"127.0.0.1:37767/v1", "http://127.0.0.1:37767", ""},
		{"https://dprop.example.com/proxy/v1", "https://dprop.example.com/proxy", ""},
		{"https://dprop.example.com/proxy/", "https://dprop.example.com/proxy", ""},
		{"http://u:p@host:8080", "http://u:p@host:8080", ""},
		{"", "", "empty"},
		{"   ", "", "empty"},
		{"nats://127.0.0.1:4222", "", "NATS server's address"},
		{"ftp://host", "", `scheme "ftp"`},
		{"http://", "", "no host"},
		{"http://:37767", "", "no host"},
		{"http://127.0.0.1:37767/v1/cells/x", "", "give its base URL, http://127.0.0.1:37767"},
		{"http://host/p/v1/cells", "", "give its base URL, http://host/p"},
		{"http://127.0.0.1:37767?x=1", "", "no query"},
		{"http://127.0.0.1:37767#frag", "", "no query or fragment"},
		{"http://127.0.0.1:port", "", "not a URL"},
		{"http://a b:1", "", "not a URL"},
	} {
		got, err := sidecarURL(tt.in)
		switch {
		case tt.wantErr == "" && (err != nil || got != tt.want):
			t.Errorf("sidecarURL(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("sidecarURL(%q) = %q, %v; want an error mentioning %q", tt.in, got, err, tt.wantErr)
		}
	}
}
