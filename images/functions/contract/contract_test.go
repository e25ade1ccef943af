package contract

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

func TestEveryResponseCarriesTheContractHeaders(t *testing.T) {
	id := Identity{Instance: "abc123", StartedNs: 42, Arch: "arm/v7", Node: "pi3-a"}
	h := Wrap(id, func(r *http.Request) Response { return Text(http.StatusTeapot, "body") })
	for _, path := range []string{Health, "/", "/some/rest"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, strings.NewReader("x")))
		want := map[string]string{
			"X-Faasbed-Instance": "abc123",
			"X-Faasbed-Started":  "42",
			"X-Faasbed-Arch":     "arm/v7",
			"X-Faasbed-Node":     "pi3-a",
		}
		for k, v := range want {
			if got := rec.Header().Get(k); got != v {
				t.Errorf("%s: header %s = %q, want %q", path, k, got, v)
			}
		}
		if _, err := strconv.ParseFloat(rec.Header().Get("X-Duration-Seconds"), 64); err != nil {
			t.Errorf("%s: X-Duration-Seconds: %v", path, err)
		}
		wantStatus := http.StatusTeapot
		if path == Health {
			wantStatus = http.StatusOK
		}
		if rec.Code != wantStatus {
			t.Errorf("%s: status %d, want %d", path, rec.Code, wantStatus)
		}
	}
}

func TestReadBodyRejectsOversizedBodies(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("12345"))
	if _, resp := ReadBody(r, 4); resp == nil || resp.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("want 413, got %+v", resp)
	}
}

func TestInstanceIDsDiffer(t *testing.T) {
	if a, b := newInstanceID(), newInstanceID(); a == b || len(a) != 16 {
		t.Fatalf("ids %q %q", a, b)
	}
}

func TestAddrBindsHostWhenTold(t *testing.T) {
	t.Setenv("PORT", "8123")
	t.Setenv("HOST", "")
	if got := Addr(); got != ":8123" {
		t.Fatalf("without HOST: %q, want all interfaces", got)
	}
	t.Setenv("HOST", "127.0.0.1")
	if got := Addr(); got != "127.0.0.1:8123" {
		t.Fatalf("HOST=127.0.0.1: %q", got)
	}
	t.Setenv("HOST", "::1")
	if got := Addr(); got != "[::1]:8123" {
		t.Fatalf("HOST=::1: %q", got)
	}
}
