package main

import "testing"

// Sizes are written as nats-server's configuration files write them.
func TestByteSize(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64
		text string
	}{
		{"0", 0, "0"},
		{"1073741824", 1 << 30, "1GiB"},
		{"1GiB", 1 << 30, "1GiB"},
		{"1gi", 1 << 30, "1GiB"},
		{"1GB", 1 << 30, "1GiB"},
		{"512MiB", 512 << 20, "512MiB"},
		{"1536 MiB", 1536 << 20, "1536MiB"},
		{"64KiB", 64 << 10, "64KiB"},
		{"2T", 2e12, "2T"},
		{"1G", 1e9, "1G"},
		{"500M", 500e6, "500M"},
		{"10k", 10000, "10K"},
		{"100B", 100, "100"},
		{"3TiB", 3 << 40, "3TiB"},
	} {
		var b byteSize
		if err := b.Set(tt.in); err != nil {
			t.Errorf("Set(%q): %v", tt.in, err)
			continue
		}
		if int64(b) != tt.want || b.String() != tt.text {
			t.Errorf("Set(%q) = %d (%s), want %d (%s)", tt.in, int64(b), b.String(), tt.want, tt.text)
		}
	}
	for _, bad := range []string{"", "-1", "1.5GiB", "GiB", "1 PB", "10000000TiB", "1x"} {
		var b byteSize
		if err := b.Set(bad); err == nil {
			t.Errorf("Set(%q) = %d, want an error", bad, int64(b))
		}
	}
}
