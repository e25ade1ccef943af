package main

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"testing"
)

func call(t *testing.T, target string, body []byte) (int, result) {
	t.Helper()
	resp := handle(httptest.NewRequest("POST", target, bytes.NewReader(body)))
	var r result
	if resp.Status == 200 {
		if err := json.Unmarshal(resp.Body, &r); err != nil {
			t.Fatal(err)
		}
	}
	return resp.Status, r
}

func TestSeededTextCompressesAndRoundTrips(t *testing.T) {
	_, a := call(t, "/?seed=5&kib=64", nil)
	_, b := call(t, "/?seed=5&kib=64", nil)
	_, c := call(t, "/?seed=6&kib=64", nil)
	if a.InputBytes != 64*1024 || !a.RoundTrip || a.Ratio <= 2 {
		t.Fatalf("%+v", a)
	}
	if a.InputSHA256 != b.InputSHA256 || a.InputSHA256 == c.InputSHA256 {
		t.Fatalf("seeded input must depend on the seed only: %v %v %v", a, b, c)
	}
	_, fast := call(t, "/?seed=5&kib=64&level=1", nil)
	if fast.CompressedBytes < a.CompressedBytes {
		t.Fatalf("level 1 (%d) smaller than level 6 (%d)", fast.CompressedBytes, a.CompressedBytes)
	}
}

func TestBodyIsCompressedAndBadLevelRefused(t *testing.T) {
	st, r := call(t, "/", bytes.Repeat([]byte("ab"), 1000))
	if st != 200 || r.InputBytes != 2000 || !r.RoundTrip || r.Input != "request body" {
		t.Fatalf("%d %+v", st, r)
	}
	if st, _ := call(t, "/?level=10", nil); st != 400 {
		t.Fatalf("level 10: %d", st)
	}
}
