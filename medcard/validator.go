package medcard

import (
	"strings"
	"unicode/utf8"
)

// validator collects the first validation failure of a request, so that a
// request is checked field by field without an if per line.
type validator struct{ err error }

func (v *validator) fail(err error) {
	if v.err == nil {
		v.err = err
	}
}

func (v *validator) required(field, value string) {
	if strings.TrimSpace(value) == "" {
		v.fail(Errorf(FaultRequiredField, "%s is required", field))
	}
}

func (v *validator) maxLength(field, value string, max int) {
	if utf8.RuneCountInString(value) > max {
		v.fail(Errorf(FaultInvalidField, "%s is longer than %d characters", field, max))
	}
}

func (v *validator) date(field, value string, required bool) Date {
	value = strings.TrimSpace(value)
	if value == "" {
		if required {
			v.fail(Errorf(FaultRequiredField, "%s is required", field))
		}
		return ""
	}
	d, err := ParseDate(field, value)
	if err != nil {
		v.fail(err)
	}
	return d
}

func (v *validator) drug(prefix string, d Drug) {
	v.maxLength(prefix+"Drug/Identifier", d.Identifier, 50)
	v.maxLength(prefix+"Drug/Name", d.Name, 200)
	v.maxLength(prefix+"Drug/Form", d.Form, 100)
	v.maxLength(prefix+"Drug/Strength", d.Strength, 100)
	v.maxLength(prefix+"Drug/ATCCode", d.ATCCode, 10)
}

func (v *validator) between(field string, value, min, max int) {
	if value < min || value > max {
		v.fail(Errorf(FaultInvalidField, "%s must be between %d and %d", field, min, max))
	}
}

func (v *validator) identifier(field string, id int64) {
	if id <= 0 {
		v.fail(Errorf(FaultRequiredField, "%s is required", field))
	}
}
