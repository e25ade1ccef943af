package main

import "testing"

func TestChecksumDependsOnSeedAndIsStable(t *testing.T) {
	a, pages := work(2, 5000, 9)
	b, _ := work(2, 5000, 9)
	c, _ := work(2, 5000, 10)
	if pages != 512 || a != b || a == c {
		t.Fatalf("pages %d, checksums %d %d %d", pages, a, b, c)
	}
	if z, _ := work(1, 0, 1); z != 0 {
		t.Fatalf("no touches must give checksum 0, got %d", z)
	}
}

func TestPeakResidentSetCoversTheBuffer(t *testing.T) {
	work(32, 0, 1)
	if hwm := vmHWM(); hwm < 32*1024 {
		t.Fatalf("VmHWM %d KiB after touching 32 MiB", hwm)
	}
}
