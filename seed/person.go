package seed

import (
	"sync"
	"time"

	"github.com/sharedmedcard/gateway/medcard"
)

// Persons are drawn without repetition from a fixed space of CPR numbers:
// every birth date from 1 January 1925 to 31 December 2024 has a number of
// slots that follows a plausible age pyramid (flat to 75, then thinning
// out), and each slot is one four-digit sequence number whose first digit
// gives the right century. Person(i) is slot perm(i), where perm is a
// bijection of the slot space keyed by the seed (a Feistel network with
// cycle walking), so the first Capacity persons of a seed are all distinct
// and their birth dates follow the pyramid.

// Capacity is how many distinct persons a generator makes: Person(i) and
// Person(j) differ for every i != j below Capacity. Beyond it the persons
// repeat (Person(i) = Person(i % Capacity)).
func Capacity() int { return int(personSpace().slots) }

var (
	firstBirth = time.Date(1925, 1, 1, 0, 0, 0, 0, time.UTC)
	endBirth   = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC) // also the reference date for ages
)

// maxSlotsPerDay is the slots of a day of the pyramid's flat part: four
// century digits of 1000 sequence numbers each.
const maxSlotsPerDay = 4000

// birthDay is one birth date of the space.
type birthDay struct {
	ddmmyy [6]byte
	// century are the seventh digits used for the day's slots, 1000 each;
	// all give the birth year's century (medcard.ParsePersonID).
	century [4]byte
	// ageDays is the age on the reference date, 1 January 2025.
	ageDays int32
}

type space struct {
	days []birthDay
	// start[d] is the first slot of day d; start[len(days)] is the total.
	start []uint64
	slots uint64
	// bits is the (even) width of the Feistel network over the slots.
	bits uint
}

// personSpace is built once: it does not depend on the seed.
var personSpace = sync.OnceValue(func() *space {
	s := &space{}
	for t := firstBirth; t.Before(endBirth); t = t.AddDate(0, 0, 1) {
		var d birthDay
		dd, mm, yy := t.Day(), int(t.Month()), t.Year()%100
		d.ddmmyy = [6]byte{digit(dd / 10), digit(dd % 10), digit(mm / 10), digit(mm % 10), digit(yy / 10), digit(yy % 10)}
		switch {
		case t.Year() >= 2000:
			d.century = [4]byte{'4', '5', '6', '7'} // 4 with yy <= 36, 5-8 with yy <= 57: 20xx
		default:
			d.century = [4]byte{'0', '1', '2', '3'} // 19xx
		}
		d.ageDays = int32(endBirth.Sub(t) / (24 * time.Hour))
		s.start = append(s.start, s.slots)
		s.days = append(s.days, d)
		if validDay(d) {
			s.slots += uint64(slotsPerDay(endBirth.Year() - t.Year()))
		} // else the day has no slots; unreachable, the tests check it
	}
	s.start = append(s.start, s.slots)
	for s.bits = 2; uint64(1)<<s.bits < s.slots; s.bits += 2 {
	}
	return s
})

// slotsPerDay is the age pyramid: as many persons per birth date up to age
// 75, then fewer, down to about one in twelve at 95.
func slotsPerDay(age int) int {
	if age <= 75 {
		return maxSlotsPerDay
	}
	w := 1.0
	for range age - 75 {
		w *= 0.88
	}
	return max(1, int(maxSlotsPerDay*w))
}

func digit(n int) byte { return byte('0' + n) }

// validDay reports whether every CPR number of the day is valid: whether
// it is a real date in the century of each of its century digits.
func validDay(d birthDay) bool {
	for _, c := range d.century {
		if _, err := medcard.ParsePersonID(string(d.ddmmyy[:]) + string(c) + "000"); err != nil {
			return false
		}
	}
	return true
}

// person returns the i-th person and their day in the space.
func (g *Generator) person(i int) (medcard.PersonID, *birthDay) {
	s := personSpace()
	slot := g.permute(s, uint64(i)%s.slots)
	// The day holding slot: the last d with start[d] <= slot.
	lo, hi := 0, len(s.days)-1
	for lo < hi {
		mid := int(uint(lo+hi+1) >> 1)
		if s.start[mid] <= slot {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	d := lo
	day := &s.days[d]
	k := slot - s.start[d]
	var b [10]byte
	copy(b[:6], day.ddmmyy[:])
	b[6] = day.century[k/1000]
	seq := k % 1000
	b[7], b[8], b[9] = digit(int(seq/100)), digit(int(seq/10%10)), digit(int(seq%10))
	// Valid by construction: only days whose date and century digits
	// ParsePersonID accepts have slots (validDay).
	return medcard.PersonID(b[:]), day
}

// permute is a bijection of [0, s.slots) keyed by the seed: a four-round
// Feistel network over s.bits bits, walking the cycle until it lands
// inside the space (on average fewer than two steps).
func (g *Generator) permute(s *space, x uint64) uint64 {
	half := s.bits / 2
	mask := uint64(1)<<half - 1
	for {
		l, r := x>>half, x&mask
		for round := range uint64(4) {
			l, r = r, l^(mix(g.seed^round<<56^r)&mask)
		}
		x = l<<half | r
		if x < s.slots {
			return x
		}
	}
}

// mix is SplitMix64's finaliser: a fast, well-spread 64-bit hash.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}
