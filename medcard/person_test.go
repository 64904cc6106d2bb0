package medcard

import (
	"strings"
	"testing"
	"time"
)

func date(year int, month time.Month, day int) time.Time {
	return time.Date(year, month, day, 0, 0, 0, 0, time.UTC)
}

func TestParsePersonIDValid(t *testing.T) {
	tests := []struct {
		in   string
		born time.Time
	}{
		// Seventh digit 0-3: always the 1900s.
		{"0101000000", date(1900, time.January, 1)},
		{"3112991999", date(1999, time.December, 31)},
		{"1506362000", date(1936, time.June, 15)},
		{"0101573999", date(1957, time.January, 1)},
		// 4 and 9: the 2000s up to yy 36, else the 1900s.
		{"0101004000", date(2000, time.January, 1)},
		{"0101364123", date(2036, time.January, 1)},
		{"0101374123", date(1937, time.January, 1)},
		{"3112994999", date(1999, time.December, 31)},
		{"0101369000", date(2036, time.January, 1)},
		{"0101379999", date(1937, time.January, 1)},
		// 5-8: the 2000s up to yy 57, else the 1800s.
		{"0101005000", date(2000, time.January, 1)},
		{"0101576000", date(2057, time.January, 1)},
		{"0101587000", date(1858, time.January, 1)},
		{"3112998999", date(1899, time.December, 31)},
		// Leap days follow the century.
		{"2902004000", date(2000, time.February, 29)},
		{"2902005000", date(2000, time.February, 29)},
		{"2902960000", date(1996, time.February, 29)},
		{"2902966000", date(1896, time.February, 29)},
		{"2901000000", date(1900, time.January, 29)},
		// Dates where the modulus-11 check would fail are still valid.
		{"0101801235", date(1980, time.January, 1)},
	}
	for _, tt := range tests {
		got, err := ParsePersonID(tt.in)
		if err != nil {
			t.Errorf("ParsePersonID(%q) = %v, want nil error", tt.in, err)
			continue
		}
		if got != PersonID(tt.in) {
			t.Errorf("ParsePersonID(%q) = %q, want %q", tt.in, got, tt.in)
		}
		if b := got.BirthDate(); !b.Equal(tt.born) || b.Location() != time.UTC {
			t.Errorf("ParsePersonID(%q).BirthDate() = %v, want %v", tt.in, b, tt.born)
		}
	}
}

func TestParsePersonIDInvalid(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"1900 is not a leap year", "2902000000"},
		{"5 with yy 97 is 1897, not a leap year", "2902975000"},
		{"4 with yy 58 is 1958, not a leap year", "2902584000"},
		{"day zero", "0001011234"},
		{"day 32", "3202011234"},
		{"31 April", "3104011234"},
		{"30 February", "3002004000"},
		{"month zero", "0100011234"},
		{"month 13", "0113011234"},
		{"empty", ""},
		{"9 digits", "010101123"},
		{"11 digits", "01010112345"},
		{"letter", "01010A1234"},
		{"hyphen", "010101-123"},
		{"dash format", "010101-1234"},
		{"leading space", " 010101123"},
		{"trailing space", "010101123 "},
		{"inner space", "010101 234"},
		{"sign", "+010101123"},
		{"full-width digits", "０１01011234"},
		{"full-width digit in 10 bytes", "0101011２"},
		{"arabic-indic digits", "٠١٠١٠١١٢٣٤"},
		{"NUL", "010101123\x00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePersonID(tt.in)
			if f := FaultOf(err); err == nil || f != FaultInvalidPersonID {
				t.Fatalf("ParsePersonID(%q) = %q, %v; want fault %v", tt.in, got, err, FaultInvalidPersonID)
			}
			if got != "" {
				t.Errorf("ParsePersonID(%q) = %q, want empty PersonID on error", tt.in, got)
			}
			if tt.in != "" && strings.Contains(err.Error(), tt.in) {
				t.Errorf("ParsePersonID(%q) error %q contains the identifier", tt.in, err)
			}
		})
	}
}
