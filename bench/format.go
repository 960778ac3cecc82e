package bench

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// FormatFloat prints v in its shortest exact form: 10, 0.5, 1.25.
func FormatFloat(v float64) string {
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// FormatBytes prints a byte count in binary units: 512 B, 8 MiB, 1.5 GiB.
func FormatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, exp := float64(n), 0
	for v >= unit && exp < 4 {
		v /= unit
		exp++
	}
	s := strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64)
	return s + " " + []string{"", "KiB", "MiB", "GiB", "TiB"}[exp]
}

// formatDecimalBytes prints a byte count in decimal units: 24.3 MB, 1 GB.
func formatDecimalBytes(n float64) string {
	units := []string{"B", "kB", "MB", "GB", "TB", "PB"}
	i := 0
	for n >= 1000 && i < len(units)-1 {
		n /= 1000
		i++
	}
	return strconv.FormatFloat(math.Round(n*10)/10, 'f', -1, 64) + " " + units[i]
}

// Sig prints v rounded to n significant digits, without exponent and
// without trailing zeros: Sig(0.000123456, 3) = "0.000123",
// Sig(1234.5, 3) = "1230", Sig(2, 3) = "2".
func Sig(v float64, n int) string {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	mag := int(math.Floor(math.Log10(math.Abs(v))))
	var r float64
	if d := n - 1 - mag; d >= 0 {
		p := math.Pow(10, float64(d))
		r = math.Round(v*p) / p
	} else {
		p := math.Pow(10, float64(-d))
		r = math.Round(v/p) * p
	}
	return strconv.FormatFloat(r, 'f', -1, 64)
}

// money prints an amount with 3 significant digits and its currency:
// "0.00123 USD".
func money(v float64, currency string) string {
	return Sig(v, 3) + " " + currency
}

// seconds prints a duration in seconds with 3 significant digits.
func seconds(v float64) string { return Sig(v, 3) + " s" }

// mdEscape makes s safe inside a markdown table cell.
func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}

// grouped prints v rounded to 6 significant digits with thousands
// separators: 1000000 → "1,000,000", 0.5 → "0.5".
func grouped(v float64) string {
	s := Sig(v, 6)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	intPart, frac, hasFrac := strings.Cut(s, ".")
	var b strings.Builder
	for i, r := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	out := b.String()
	if hasFrac {
		out += "." + frac
	}
	if neg {
		out = "-" + out
	}
	return out
}
