// Command chain calls the next function of a chain through the gateway and reports each hop.
//
// Query `next` lists the functions still to call, comma-separated (at most 8, each a plain
// function name). An empty `next` ends the chain here. Otherwise this replica POSTs its request
// body to $gateway_url/function/<first>?next=<rest> (the OpenFaaS convention for a function that
// calls another; the local platform sets gateway_url), and answers with the downstream's hops
// plus its own, outermost first.
//
// Each hop says its node, arch, instance, its handler's total time and the part of it spent
// waiting on the downstream call, in ns; the caller computes each hop's own time
// (total - call) and each link's transit (call - the next hop's total). The hops are the JSON
// body and the X-Faasbed-Hops header (`node/arch/total_ns/call_ns` per hop, comma-separated).
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"faasbed.io/functions/contract"
)

// hop is one function of the chain; times in ns.
type hop struct {
	Node     string `json:"node"`
	Arch     string `json:"arch"`
	Instance string `json:"instance"`
	TotalNs  int64  `json:"total_ns"`
	CallNs   int64  `json:"call_ns"`
}

// result is the response body.
type result struct {
	Hops []hop `json:"hops"`
}

const maxNext = 8

var plain = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

var client = &http.Client{Timeout: 120 * time.Second}

// parseNext splits query `next` into function names.
func parseNext(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	names := strings.Split(s, ",")
	if len(names) > maxNext {
		return nil, fmt.Errorf("query next names %d functions; at most %d", len(names), maxNext)
	}
	for _, n := range names {
		if !plain.MatchString(n) {
			return nil, fmt.Errorf("query next: %q is not a function name (lowercase letters, digits, '-')", n)
		}
	}
	return names, nil
}

// call POSTs body to the first function of next through the gateway and returns its hops.
func call(gateway string, next []string, body []byte) ([]hop, error) {
	u := strings.TrimRight(gateway, "/") + "/function/" + next[0]
	if len(next) > 1 {
		u += "?next=" + url.QueryEscape(strings.Join(next[1:], ","))
	}
	resp, err := client.Post(u, "application/octet-stream", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("call %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("read the answer of %s: %v", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s answered %d: %s", u, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	var r result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s did not answer chain json (%v); every function of `next` must be a chain function", u, err)
	}
	return r.Hops, nil
}

func handle(r *http.Request) contract.Response {
	t0 := time.Now()
	body, errResp := contract.ReadBody(r, contract.MaxBody)
	if errResp != nil {
		return *errResp
	}
	next, err := parseNext(r.URL.Query().Get("next"))
	if err != nil {
		return contract.Text(http.StatusBadRequest, err.Error()+"\n")
	}
	var hops []hop
	var callNs int64
	if len(next) > 0 {
		gw := os.Getenv("gateway_url")
		if gw == "" {
			return contract.Text(http.StatusInternalServerError, "gateway_url is not set; the platform (or the function's environment) must name the gateway for a chain to call on\n")
		}
		c0 := time.Now()
		hops, err = call(gw, next, body)
		callNs = time.Since(c0).Nanoseconds()
		if err != nil {
			return contract.Text(http.StatusBadGateway, "chain: "+err.Error()+"\n")
		}
	}
	id := contract.Current()
	me := hop{Node: id.Node, Arch: id.Arch, Instance: id.Instance, TotalNs: time.Since(t0).Nanoseconds(), CallNs: callNs}
	hops = append([]hop{me}, hops...)
	parts := make([]string, len(hops))
	for i, h := range hops {
		parts[i] = fmt.Sprintf("%s/%s/%d/%d", h.Node, h.Arch, h.TotalNs, h.CallNs)
	}
	resp := contract.JSON(http.StatusOK, result{Hops: hops})
	resp.Headers = map[string]string{"X-Faasbed-Hops": strings.Join(parts, ",")}
	return resp
}

func main() { contract.Main("chain", handle) }
