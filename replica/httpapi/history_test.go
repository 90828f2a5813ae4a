package httpapi_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/dprop/dprop/replica/httpapi"
)

func TestHistory(t *testing.T) {
	srv := runBroker(t)
	sc := newSidecar(t, srv.ClientURL(), httpapi.Options{})
	const path = "/v1/cells/weather.boston.temp"
	sc.do(t, "POST", path, day1, "Dprop-Origin", "scraper").want(t, http.StatusOK)
	sc.do(t, "POST", path, day1).want(t, http.StatusOK) // no change
	sc.do(t, "POST", path, week).want(t, http.StatusOK)
	nc := connect(t, srv.ClientURL())
	nc.Publish("dprop.cell.weather.boston.temp", []byte(`{"type":"max","value":1}`))
	nc.Flush()

	var h httpapi.History
	waitFor(t, "four entries", func() bool {
		a := sc.do(t, "GET", path+"/history", "").want(t, http.StatusOK)
		if err := json.Unmarshal([]byte(a.body), &h); err != nil {
			t.Fatal(err)
		}
		return len(h.Entries) == 4
	})
	e := h.Entries
	if !e[0].Changed || e[0].Origin != "scraper" || string(e[0].Value) != day1 ||
		e[1].Changed || !e[2].Changed || string(e[2].Value) != week ||
		e[3].Refused != "type_mismatch" || e[3].Value != nil || h.Cell != "weather.boston.temp" {
		t.Errorf("history %+v", h)
	}
	got, err := sc.c.History(ctxT(t), "weather.boston.temp", e[2].Time, 1)
	if err != nil || len(got.Entries) != 1 || got.Entries[0].Seq != e[2].Seq {
		t.Errorf("client history since %v limit 1: %+v %v", e[2].Time, got, err)
	}
	for _, q := range []string{"?limit=0", "?limit=x", "?since=yesterday"} {
		sc.do(t, "GET", path+"/history"+q, "").want(t, http.StatusBadRequest)
	}
	sc.do(t, "GET", "/v1/cells/a..b/history", "").want(t, http.StatusBadRequest)
	if a := sc.do(t, "GET", "/v1/cells/never.written/history", "").want(t, http.StatusOK); a.body != `{"cell":"never.written","entries":[]}`+"\n" {
		t.Errorf("empty history: %s", a.body)
	}

}
