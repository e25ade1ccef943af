// Package contract is the faasbed function contract, written once for every function:
// listen on $PORT (default 8080), serve GET /_/health, and put the X-Faasbed-* and
// X-Duration-Seconds headers on every response. See ARCHITECTURE.md.
package contract

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"time"
)

// startedNs is the process start time in unix ns. Package variables of an imported package
// are initialised before the main package's, so this is as early as Go code can observe.
var startedNs = time.Now().UnixNano()

// Health is the readiness path every function serves.
const Health = "/_/health"

// MaxBody is the largest request body a function reads, in bytes (8 MiB).
const MaxBody = 8 << 20

// Response is what a handler returns; the contract writes it with the contract headers.
type Response struct {
	Status      int
	ContentType string
	Body        []byte
	Headers     map[string]string // extra response headers (the contract's own ones win)
}

// Handler computes a response. Its own run time is reported in X-Duration-Seconds.
type Handler func(r *http.Request) Response

// Text is a plain-text response.
func Text(status int, body string) Response {
	return Response{Status: status, ContentType: "text/plain; charset=utf-8", Body: []byte(body)}
}

// JSON is a JSON response of v; a value that cannot be encoded gives a 500.
func JSON(status int, v interface{}) Response {
	b, err := json.Marshal(v)
	if err != nil {
		return Text(http.StatusInternalServerError, "cannot encode response: "+err.Error()+"\n")
	}
	return Response{Status: status, ContentType: "application/json", Body: append(b, '\n')}
}

// ReadBody reads the request body up to max bytes. On failure it returns the error
// response to send (413 when the body is too large).
func ReadBody(r *http.Request, max int64) ([]byte, *Response) {
	b, err := io.ReadAll(io.LimitReader(r.Body, max+1))
	if err != nil {
		resp := Text(http.StatusBadRequest, "cannot read request body: "+err.Error()+"\n")
		return nil, &resp
	}
	if int64(len(b)) > max {
		resp := Text(http.StatusRequestEntityTooLarge,
			fmt.Sprintf("request body is larger than %d bytes; send less\n", max))
		return nil, &resp
	}
	return b, nil
}

// Identity is what every response says about the process that served it.
type Identity struct {
	Instance  string // random hex id made at process start
	StartedNs int64  // process start, unix ns
	Arch      string // GOARCH, plus "/v"+GOARM on arm (e.g. "arm/v7")
	Node      string // $NODE_NAME
}

// NewIdentity makes this process's identity from the build info and the environment.
func NewIdentity() Identity {
	return Identity{
		Instance:  newInstanceID(),
		StartedNs: startedNs,
		Arch:      Arch(),
		Node:      os.Getenv("NODE_NAME"),
	}
}

func newInstanceID() string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		// crypto/rand does not fail on Linux; fall back to the start time so the id stays unique.
		return strconv.FormatInt(startedNs, 16)
	}
	return hex.EncodeToString(b)
}

// Arch is GOARCH, plus "/v"+GOARM for arm, read from the binary's build settings.
func Arch() string {
	if runtime.GOARCH != "arm" {
		return runtime.GOARCH
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "GOARM" && s.Value != "" {
				return "arm/v" + s.Value
			}
		}
	}
	return "arm"
}

// Wrap serves h on every path and method, and the health check on Health.
func Wrap(id Identity, h Handler) http.Handler {
	started := strconv.FormatInt(id.StartedNs, 10)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t0 := time.Now()
		var resp Response
		if r.URL.Path == Health {
			resp = Text(http.StatusOK, "ok\n")
		} else {
			resp = h(r)
		}
		took := time.Since(t0)
		hd := w.Header()
		for k, v := range resp.Headers {
			hd.Set(k, v)
		}
		hd.Set("X-Faasbed-Instance", id.Instance)
		hd.Set("X-Faasbed-Started", started)
		hd.Set("X-Faasbed-Arch", id.Arch)
		hd.Set("X-Faasbed-Node", id.Node)
		hd.Set("X-Duration-Seconds", strconv.FormatFloat(took.Seconds(), 'f', 9, 64))
		if resp.ContentType != "" {
			hd.Set("Content-Type", resp.ContentType)
		}
		hd.Set("Content-Length", strconv.Itoa(len(resp.Body)))
		status := resp.Status
		if status == 0 {
			status = http.StatusOK
		}
		w.WriteHeader(status)
		if r.Method != http.MethodHead {
			_, _ = w.Write(resp.Body)
		}
	})
}

// Addr is the listen address: host $HOST (default: all interfaces, as a pod needs), port
// $PORT (default 8080). faasbed's local platform sets HOST=127.0.0.1, so a replica is reached
// only through the gateway and its link emulation.
func Addr() string {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	return net.JoinHostPort(os.Getenv("HOST"), port)
}

// current is the identity Main serves with.
var current Identity

// Current is the identity of this process as its responses state it (set by Main before it
// serves; a handler that reports itself in its body, as `chain` does, reads it here).
func Current() Identity { return current }

// Main serves h under the contract until the process is killed; it exits 1 if it cannot listen.
func Main(name string, h Handler) {
	id := NewIdentity()
	current = id
	srv := &http.Server{
		Addr:              Addr(),
		Handler:           Wrap(id, h),
		ReadHeaderTimeout: 10 * time.Second,
	}
	log.Printf("function %s instance %s arch %s node %q listening on %s", name, id.Instance, id.Arch, id.Node, srv.Addr)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatalf("function %s: cannot serve on %s: %v; set PORT to a free port", name, srv.Addr, err)
	}
}
