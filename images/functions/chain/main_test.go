package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"faasbed.io/functions/contract"
)

// A fake gateway that serves /function/<name> with this same handler, so a 3-hop chain runs
// in one process.
func TestThreeHopChainReportsEveryHop(t *testing.T) {
	gw := httptest.NewServer(http.StripPrefix("/function/x", contract.Wrap(contract.NewIdentity(), handle)))
	defer gw.Close()
	t.Setenv("gateway_url", gw.URL)
	resp := handle(httptest.NewRequest("POST", "/?next=x,x", strings.NewReader("hi")))
	if resp.Status != 200 {
		t.Fatalf("%d %s", resp.Status, resp.Body)
	}
	var r result
	if err := json.Unmarshal(resp.Body, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Hops) != 3 {
		t.Fatalf("%+v", r)
	}
	for i := 0; i < 2; i++ {
		if r.Hops[i].CallNs <= 0 || r.Hops[i].CallNs < r.Hops[i+1].TotalNs || r.Hops[i].TotalNs < r.Hops[i].CallNs {
			t.Fatalf("hop %d times do not nest: %+v", i, r.Hops)
		}
	}
	if r.Hops[2].CallNs != 0 {
		t.Fatalf("the last hop calls nobody: %+v", r.Hops[2])
	}
	if n := strings.Count(resp.Headers["X-Faasbed-Hops"], ","); n != 2 {
		t.Fatalf("header %q", resp.Headers["X-Faasbed-Hops"])
	}
}

func TestBadNextAndMissingGatewayAreErrors(t *testing.T) {
	t.Setenv("gateway_url", "")
	for target, want := range map[string]int{"/?next=A": 400, "/?next=a,,b": 400, "/?next=a": 500} {
		if st := handle(httptest.NewRequest("POST", target, bytes.NewReader(nil))).Status; st != want {
			t.Fatalf("%s: %d, want %d", target, st, want)
		}
	}
	if _, err := parseNext(strings.Repeat("a,", 8) + "a"); err == nil {
		t.Fatal("9 names accepted")
	}
}
