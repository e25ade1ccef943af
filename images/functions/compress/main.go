// Command compress gzips its input and checks the round trip.
//
// The input is the request body or, when the body is empty, kib KiB of seeded text: words drawn
// from a fixed 16-word list by SplitMix64 from query `seed`, each followed by a newline when
// Below(10) is 0 and a space otherwise, cut to exactly kib*1024 bytes (the Python twin makes the
// same bytes). Query: seed (default 1), kib (1..65536, default 256), level (1..9, default 6).
package main

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"

	"faasbed.io/functions/contract"
	"faasbed.io/functions/seed"
)

// words is the vocabulary of the generated text.
var words = []string{
	"function", "cold", "start", "edge", "cloud", "arm", "latency", "gateway",
	"replica", "node", "raspberry", "pi", "seed", "thumbnail", "memory", "chain",
}

// result is the response body; sizes in bytes.
type result struct {
	InputBytes      int     `json:"input_bytes"`
	InputSHA256     string  `json:"input_sha256"`
	CompressedBytes int     `json:"compressed_bytes"`
	Ratio           float64 `json:"ratio"`
	Level           int     `json:"level"`
	RoundTrip       bool    `json:"round_trip"`
	Input           string  `json:"input"`
}

// text makes n bytes of seeded text.
func text(s uint64, n int) []byte {
	rng := seed.New(s)
	out := make([]byte, 0, n+16)
	for len(out) < n {
		out = append(out, words[rng.Below(uint64(len(words)))]...)
		if rng.Below(10) == 0 {
			out = append(out, '\n')
		} else {
			out = append(out, ' ')
		}
	}
	return out[:n]
}

func bad(err error) contract.Response { return contract.Text(http.StatusBadRequest, err.Error()+"\n") }

func handle(r *http.Request) contract.Response {
	body, errResp := contract.ReadBody(r, contract.MaxBody)
	if errResp != nil {
		return *errResp
	}
	level, err := seed.IntParam(r, "level", 6, 1, 9)
	if err != nil {
		return bad(err)
	}
	input := "request body"
	if len(body) == 0 {
		s, err := seed.SeedParam(r)
		if err != nil {
			return bad(err)
		}
		kib, err := seed.IntParam(r, "kib", 256, 1, 65536)
		if err != nil {
			return bad(err)
		}
		body, input = text(s, kib*1024), "generated from seed"
	}
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, level)
	if err == nil {
		_, err = zw.Write(body)
	}
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		return contract.Text(http.StatusInternalServerError, "gzip failed: "+err.Error()+"\n")
	}
	zr, err := gzip.NewReader(bytes.NewReader(buf.Bytes()))
	var back []byte
	if err == nil {
		back, err = io.ReadAll(zr)
	}
	sum := sha256.Sum256(body)
	return contract.JSON(http.StatusOK, result{
		InputBytes: len(body), InputSHA256: hex.EncodeToString(sum[:]),
		CompressedBytes: buf.Len(), Ratio: float64(len(body)) / float64(buf.Len()),
		Level: level, RoundTrip: err == nil && bytes.Equal(back, body), Input: input,
	})
}

func main() { contract.Main("compress", handle) }
