package funchost

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// timeSpanRe is .NET's invariant TimeSpan format: [-][d.]hh:mm[:ss[.fffffff]].
var timeSpanRe = regexp.MustCompile(`^(-)?(?:(\d+)\.)?(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,7}))?)?$`)

// maxSpanDays keeps a TimeSpan within time.Duration's range (~292 years).
const maxSpanDays = 106000

// parseTimeSpan parses a .NET TimeSpan string as configuration binding
// does: "hh:mm:ss", "d.hh:mm:ss.fffffff", "hh:mm", or a whole number of days
// ("-1" is minus one day).
func parseTimeSpan(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.Atoi(s); err == nil {
		if n > maxSpanDays || n < -maxSpanDays {
			return 0, fmt.Errorf("TimeSpan %q out of range", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	m := timeSpanRe.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("%q is not a TimeSpan (hh:mm:ss)", s)
	}
	num := func(x string) int64 {
		if x == "" {
			return 0
		}
		n, _ := strconv.ParseInt(x, 10, 64)
		return n
	}
	days, hh, mm, ss := num(m[2]), num(m[3]), num(m[4]), num(m[5])
	if len(m[2]) > 6 || days >= maxSpanDays {
		return 0, fmt.Errorf("TimeSpan %q out of range", s)
	}
	if hh > 23 || mm > 59 || ss > 59 {
		return 0, fmt.Errorf("%q is not a TimeSpan: hours 0-23, minutes and seconds 0-59", s)
	}
	frac := m[6]
	var ticks int64
	if frac != "" {
		ticks = num(frac + strings.Repeat("0", 7-len(frac)))
	}
	d := time.Duration(days)*24*time.Hour + time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute +
		time.Duration(ss)*time.Second + time.Duration(ticks)*100*time.Nanosecond
	if m[1] == "-" {
		d = -d
	}
	return d, nil
}
