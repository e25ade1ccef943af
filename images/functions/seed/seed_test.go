package seed

import "testing"

// The first outputs of SplitMix64 from seed 0 are published with the reference implementation
// (prng.di.unimi.it/splitmix64.c); the Python twin is checked against the same values.
func TestSplitMix64Reference(t *testing.T) {
	r := New(0)
	want := []uint64{0xe220a8397b1dcdaf, 0x6e789e6aa1b965f4, 0x06c45d188009454f}
	for i, w := range want {
		if got := r.Next(); got != w {
			t.Fatalf("output %d = %#x, want %#x", i, got, w)
		}
	}
}
