// Command cpu is CPU-bound work: one sha256 over kib KiB of a fixed pattern, repeated rounds times.
//
// The input is defined exactly so callers can check the digest: a 1 KiB block whose byte i is
// i mod 256, written kib*rounds times into a single sha256 stream.
// Query: kib (1..65536, default 64), rounds (1..1000, default 1).
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"

	"faasbed.io/functions/contract"
	"faasbed.io/functions/seed"
)

const blockBytes = 1024

var block = func() []byte {
	b := make([]byte, blockBytes)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}()

// result is the response body; bytes is the total number of bytes hashed.
type result struct {
	SHA256 string `json:"sha256"`
	KiB    int    `json:"kib"`
	Rounds int    `json:"rounds"`
	Bytes  int64  `json:"bytes"`
	Input  string `json:"input"`
}

// digest hashes block kib*rounds times in one stream.
func digest(kib, rounds int) string {
	h := sha256.New()
	for n := kib * rounds; n > 0; n-- {
		h.Write(block)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func handle(r *http.Request) contract.Response {
	kib, err := seed.IntParam(r, "kib", 64, 1, 65536)
	if err != nil {
		return contract.Text(http.StatusBadRequest, err.Error()+"\n")
	}
	rounds, err := seed.IntParam(r, "rounds", 1, 1, 1000)
	if err != nil {
		return contract.Text(http.StatusBadRequest, err.Error()+"\n")
	}
	return contract.JSON(http.StatusOK, result{
		SHA256: digest(kib, rounds),
		KiB:    kib,
		Rounds: rounds,
		Bytes:  int64(kib) * blockBytes * int64(rounds),
		Input:  "1 KiB block with byte i = i mod 256, repeated kib*rounds times",
	})
}

func main() { contract.Main("cpu", handle) }
