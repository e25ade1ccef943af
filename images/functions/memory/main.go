// Command memory allocates and touches mib MiB, then makes seeded random accesses to it.
//
// Every 4 KiB page gets its index mod 256 in its first byte (so each page is really backed);
// then `touches` times: p = Below(size) from SplitMix64(seed), checksum = (checksum*31 + b[p])
// mod 2^32, b[p] += 1. The Python twin gives the same checksum.
// Query: mib (1..2048, default 64), touches (0..10000000, default 100000), seed (default 1).
package main

import (
	"bufio"
	"net/http"
	"os"
	"strconv"
	"strings"

	"faasbed.io/functions/contract"
	"faasbed.io/functions/seed"
)

const page = 4096

// result is the response body; vm_hwm_kib is the process's peak resident set (VmHWM), KiB,
// 0 when /proc cannot tell.
type result struct {
	MiB      int    `json:"mib"`
	Pages    int    `json:"pages"`
	Touches  int    `json:"touches"`
	Checksum uint32 `json:"checksum"`
	VmHWMKiB int64  `json:"vm_hwm_kib"`
}

// work runs the access pattern over a fresh mib MiB buffer.
func work(mib, touches int, s uint64) (uint32, int) {
	size := mib << 20
	b := make([]byte, size)
	pages := size / page
	for i := 0; i < pages; i++ {
		b[i*page] = byte(i)
	}
	rng := seed.New(s)
	var sum uint32
	for k := 0; k < touches; k++ {
		p := rng.Below(uint64(size))
		sum = sum*31 + uint32(b[p])
		b[p]++
	}
	return sum, pages
}

// vmHWM reads VmHWM from /proc/self/status, in KiB.
func vmHWM() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "VmHWM:") {
			rest := strings.TrimSpace(strings.TrimPrefix(line, "VmHWM:"))
			v, _ := strconv.ParseInt(strings.TrimSuffix(rest, " kB"), 10, 64)
			return v
		}
	}
	return 0
}

func bad(err error) contract.Response { return contract.Text(http.StatusBadRequest, err.Error()+"\n") }

func handle(r *http.Request) contract.Response {
	mib, err := seed.IntParam(r, "mib", 64, 1, 2048)
	if err != nil {
		return bad(err)
	}
	touches, err := seed.IntParam(r, "touches", 100000, 0, 10000000)
	if err != nil {
		return bad(err)
	}
	s, err := seed.SeedParam(r)
	if err != nil {
		return bad(err)
	}
	sum, pages := work(mib, touches, s)
	return contract.JSON(http.StatusOK, result{MiB: mib, Pages: pages, Touches: touches, Checksum: sum, VmHWMKiB: vmHWM()})
}

func main() { contract.Main("memory", handle) }
