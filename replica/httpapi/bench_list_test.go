package httpapi_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/dprop/dprop/replica/httpapi"
)

var benchListCells = flag.Int("bench.listcells", 200_000, "cells of BenchmarkListCells")

// BenchmarkListCells measures GET /v1/cells?values=true on a replica of
// bench.listcells cells: the first page (the server's default limit), a
// page in the middle (after a cursor), and a walk of every page. The
// client keeps only the end of each answer (to find the next cursor), so
// B/op is mostly the server's allocation. The first listing, which builds
// the replica's index of names, is timed apart (logged).
func BenchmarkListCells(b *testing.B) {
	srv := runBroker(b)
	n := *benchListCells
	start := time.Now()
	publishCells(b, srv.ClientURL(), n, func(i int) string { return fmt.Sprintf("bench.list.c%07d", i) })
	sc := newSidecar(b, srv.ClientURL(), httpapi.Options{})
	b.Logf("%d cells published and folded in %v", n, time.Since(start).Round(time.Millisecond))
	hc := sc.ts.Client()

	page := func(b *testing.B, after string) (size int64, next string) {
		q := url.Values{"values": {"true"}}
		if after != "" {
			q.Set("after", after)
		}
		resp, err := hc.Get(sc.ts.URL + "/v1/cells?" + q.Encode())
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		var tail tailWriter
		size, err = io.Copy(&tail, resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d, %v: %s", resp.StatusCode, err, tail.b)
		}
		return size, tail.next(b)
	}
	t0 := time.Now()
	page(b, "")
	b.Logf("the first listing (it builds the replica's index of names): %v", time.Since(t0).Round(time.Millisecond))
	middle := ""
	b.Run("page=first", func(b *testing.B) {
		b.ReportAllocs()
		var size int64
		for b.Loop() {
			size, middle = page(b, "")
		}
		b.ReportMetric(float64(size), "answer-bytes")
	})
	for range n / 2 / httpapi.DefaultListLimit {
		_, middle = page(b, middle)
	}
	b.Run("page=middle", func(b *testing.B) {
		b.ReportAllocs()
		var size int64
		for b.Loop() {
			size, _ = page(b, middle)
		}
		b.ReportMetric(float64(size), "answer-bytes")
	})
	b.Run("walk", func(b *testing.B) {
		b.ReportAllocs()
		var size int64
		pages := 0
		for b.Loop() {
			size, pages = 0, 0
			for next := ""; ; {
				s, nx := page(b, next)
				size, pages = size+s, pages+1
				if nx == "" {
					break
				}
				next = nx
			}
		}
		b.ReportMetric(float64(size), "answer-bytes")
		b.ReportMetric(float64(pages), "pages")
	})
}

// tailWriter keeps the last bytes written to it.
type tailWriter struct{ b []byte }

func (w *tailWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	if len(w.b) > 4096 {
		w.b = append(w.b[:0], w.b[len(w.b)-1024:]...)
	}
	return len(p), nil
}

// next finds the "next" cursor at the end of a listing ("" if none).
func (w *tailWriter) next(b *testing.B) string {
	i := bytes.LastIndex(w.b, []byte(`"next":`))
	if i < 0 {
		return ""
	}
	var next string
	if err := json.NewDecoder(bytes.NewReader(w.b[i+len(`"next":`):])).Decode(&next); err != nil {
		b.Fatalf("next: %v in %q", err, w.b[i:])
	}
	return next
}
