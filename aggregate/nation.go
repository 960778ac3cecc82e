package aggregate

import "fmt"

// nationNames are the TPC-H nation names by key.
var nationNames = [NationCount]string{
	"ALGERIA", "ARGENTINA", "BRAZIL", "CANADA", "EGYPT",
	"ETHIOPIA", "FRANCE", "GERMANY", "INDIA", "INDONESIA",
	"IRAN", "IRAQ", "JAPAN", "JORDAN", "KENYA",
	"MOROCCO", "MOZAMBIQUE", "PERU", "CHINA", "ROMANIA",
	"SAUDI ARABIA", "VIETNAM", "RUSSIA", "UNITED KINGDOM", "UNITED STATES",
}

// NationName returns the TPC-H name of nation key, or "NATION <key>" for a
// key outside 0..24.
func NationName(key int) string {
	if key < 0 || key >= NationCount {
		return fmt.Sprintf("NATION %d", key)
	}
	return nationNames[key]
}
