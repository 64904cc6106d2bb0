package soap

import "testing"

func TestAcceptsGzip(t *testing.T) {
	for _, tc := range []struct {
		header string
		want   bool
	}{
		{"", false},
		{"gzip", true},
		{"GZIP", true},
		{"x-gzip", true},
		{"gzip, deflate", true},
		{"deflate, gzip;q=0.5", true},
		{"gzip;q=0", false},
		{"gzip; q=0.0", false},
		{"gzip;q=0, *", false}, // named gzip wins over *
		{"*", true},
		{"*;q=0", false},
		{"deflate, br", false},
		{"identity", false},
		{"gzip;q=abc", false},
		{"br;q=1.0, gzip;q=0.8, *;q=0.1", true},
		{"gzip;q=0, x-gzip;q=0.5", true},
	} {
		if got := acceptsGzip(tc.header); got != tc.want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", tc.header, got, tc.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { acceptsGzip("br;q=1.0, gzip;q=0.8, *;q=0.1") }); n != 0 {
		t.Errorf("acceptsGzip allocates %v times, want 0", n)
	}
}
