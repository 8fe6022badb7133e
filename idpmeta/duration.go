package idpmeta

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// ParseDuration parses an xs:duration as SAML metadata's cacheDuration
// uses it ("PT6H", "P1D", "P1DT12H30M0.5S"). Years count 365 days and
// months 30, as a cache lifetime needs no calendar; a negative or empty
// duration is an error.
func ParseDuration(s string) (time.Duration, error) {
	bad := func() (time.Duration, error) {
		return 0, fmt.Errorf("%q is not an xs:duration like PT6H or P1D", s)
	}
	if len(s) < 3 || s[0] != 'P' {
		return bad()
	}
	units := map[byte]float64{'Y': 365 * 24 * 3600, 'M': 30 * 24 * 3600, 'D': 24 * 3600}
	timeUnits := map[byte]float64{'H': 3600, 'M': 60, 'S': 1}
	var total float64
	inTime, any := false, false
	num := ""
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == 'T' && !inTime && num == "":
			inTime = true
			continue
		case c >= '0' && c <= '9' || c == '.' && inTime:
			num += string(c)
			continue
		}
		u, ok := units[c]
		if inTime {
			u, ok = timeUnits[c]
		}
		if !ok || num == "" || c == '.' {
			return bad()
		}
		if c != 'S' && !isDigits(num) {
			return bad()
		}
		v, err := strconv.ParseFloat(num, 64)
		if err != nil {
			return bad()
		}
		total += v * u
		num, any = "", true
		delete(units, c) // each designator once
		if inTime {
			delete(timeUnits, c)
		}
	}
	if !any || num != "" || s[len(s)-1] == 'T' || total*1e9 > math.MaxInt64 {
		return bad()
	}
	return time.Duration(total * float64(time.Second)), nil
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
