package medcard

import "time"

// PersonID is a Danish CPR number: ten digits, DDMMYY then a sequence number
// whose first digit with the year gives the century. Only ParsePersonID makes
// one, so a PersonID in hand is always valid.
//
// PersonID is personal data: never log it, put it in a metric label or an
// error message.
type PersonID string

// ParsePersonID validates s as a CPR number: exactly ten ASCII digits whose
// first six are a real date in the century the seventh digit selects. The
// modulus-11 check is not applied: CPR numbers issued since 2007 need not pass it.
//
// Errors: FaultInvalidPersonID.
func ParsePersonID(s string) (PersonID, error) {
	if len(s) != 10 {
		return "", Errorf(FaultInvalidPersonID, "a person identifier has exactly 10 digits")
	}
	var d [10]int
	for i := 0; i < 10; i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return "", Errorf(FaultInvalidPersonID, "a person identifier has only digits")
		}
		d[i] = int(c - '0')
	}
	day, month, yy := d[0]*10+d[1], d[2]*10+d[3], d[4]*10+d[5]
	year := centuryOf(d[6], yy) + yy
	t := time.Date(year, time.Month(month), day, 0, 0, 0, 0, time.UTC)
	if month < 1 || month > 12 || day < 1 || t.Day() != day || t.Month() != time.Month(month) {
		return "", Errorf(FaultInvalidPersonID, "a person identifier begins with a valid birth date (DDMMYY)")
	}
	return PersonID(s), nil
}

// centuryOf returns the century of a CPR birth year from the seventh digit,
// as the CPR office defines it.
func centuryOf(seventh, yy int) int {
	switch {
	case seventh <= 3:
		return 1900
	case seventh == 4 || seventh == 9:
		if yy <= 36 {
			return 2000
		}
		return 1900
	default: // 5-8
		if yy <= 57 {
			return 2000
		}
		return 1800
	}
}

// BirthDate returns the birth date encoded in p.
func (p PersonID) BirthDate() time.Time {
	n := func(i int) int { return int(p[i]-'0')*10 + int(p[i+1]-'0') }
	yy := n(4)
	return time.Date(centuryOf(int(p[6]-'0'), yy)+yy, time.Month(n(2)), n(0), 0, 0, 0, 0, time.UTC)
}
