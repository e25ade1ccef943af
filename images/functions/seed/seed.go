// Package seed makes workload inputs from a seed, the same bytes in every runtime: SplitMix64
// (Steele, Lea, Flood 2014), which the Python functions implement with the same constants.
package seed

import (
	"fmt"
	"net/http"
	"strconv"
)

// Rng is a SplitMix64 generator.
type Rng struct{ state uint64 }

// New starts a generator at seed s.
func New(s uint64) *Rng { return &Rng{state: s} }

// Next returns the next 64-bit value.
func (r *Rng) Next() uint64 {
	r.state += 0x9e3779b97f4a7c15
	z := r.state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Below returns a value in [0, n) (n > 0), by modulo (the bias is irrelevant here and keeps the
// Python twin trivial).
func (r *Rng) Below(n uint64) uint64 { return r.Next() % n }

// IntParam reads query integer name in [min, max], or def when absent.
func IntParam(r *http.Request, name string, def, min, max int) (int, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < min || v > max {
		return 0, fmt.Errorf("query %s=%q must be an integer from %d to %d", name, s, min, max)
	}
	return v, nil
}

// SeedParam reads query `seed` (an unsigned 64-bit integer, default 1).
func SeedParam(r *http.Request) (uint64, error) {
	s := r.URL.Query().Get("seed")
	if s == "" {
		return 1, nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("query seed=%q must be an unsigned 64-bit integer", s)
	}
	return v, nil
}
