// Command json parses a JSON object or array (at most 8 MiB) and returns a summary of it:
// the number of values of each type, the number of object keys, the nesting depth, and the
// top-level keys sorted (for an object) or the top-level length (for an array).
// Invalid JSON, or a top-level value that is not an object or array, gives 400 with a message.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sort"

	"faasbed.io/functions/contract"
)

// summary is the response body. Counts holds how many values of each JSON type the document
// has (object, array, string, number, bool, null), the top-level value included.
type summary struct {
	Top       string         `json:"top"`
	Bytes     int            `json:"bytes"`
	Counts    map[string]int `json:"counts"`
	Keys      int            `json:"keys"`
	MaxDepth  int            `json:"max_depth"`
	TopKeys   []string       `json:"top_keys,omitempty"`
	TopLength *int           `json:"top_length,omitempty"`
}

// walk counts v and everything inside it; depth is v's nesting level (top level = 1).
func (s *summary) walk(v interface{}, depth int) {
	if depth > s.MaxDepth {
		s.MaxDepth = depth
	}
	switch t := v.(type) {
	case map[string]interface{}:
		s.Counts["object"]++
		s.Keys += len(t)
		for _, c := range t {
			s.walk(c, depth+1)
		}
	case []interface{}:
		s.Counts["array"]++
		for _, c := range t {
			s.walk(c, depth+1)
		}
	case string:
		s.Counts["string"]++
	case json.Number:
		s.Counts["number"]++
	case bool:
		s.Counts["bool"]++
	case nil:
		s.Counts["null"]++
	}
}

// parse decodes exactly one JSON value from body.
func parse(body []byte) (interface{}, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v interface{}
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("unexpected data after the top-level value")
	}
	return v, nil
}

func summarise(v interface{}, n int) (summary, bool) {
	s := summary{Bytes: n, Counts: map[string]int{
		"object": 0, "array": 0, "string": 0, "number": 0, "bool": 0, "null": 0,
	}}
	switch t := v.(type) {
	case map[string]interface{}:
		s.Top = "object"
		s.TopKeys = make([]string, 0, len(t))
		for k := range t {
			s.TopKeys = append(s.TopKeys, k)
		}
		sort.Strings(s.TopKeys)
	case []interface{}:
		s.Top = "array"
		l := len(t)
		s.TopLength = &l
	default:
		return s, false
	}
	s.walk(v, 1)
	return s, true
}

func handle(r *http.Request) contract.Response {
	body, errResp := contract.ReadBody(r, contract.MaxBody)
	if errResp != nil {
		return *errResp
	}
	v, err := parse(body)
	if err != nil {
		return contract.Text(http.StatusBadRequest, "invalid json: "+err.Error()+"; send one JSON object or array\n")
	}
	s, ok := summarise(v, len(body))
	if !ok {
		return contract.Text(http.StatusBadRequest, "the top-level json value must be an object or array\n")
	}
	return contract.JSON(http.StatusOK, s)
}

func main() { contract.Main("json", handle) }
