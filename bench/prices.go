package bench

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"
)

// PriceSchema is the value of the "schema" field of a price table.
const PriceSchema = "funnel-prices/1"

// ErrBadPrices marks a price table that cannot be used: malformed JSON, an
// unknown or missing field, a missing or unknown price, an impossible value.
var ErrBadPrices = errors.New("bench: bad price table")

// PriceID names one price in the table.
type PriceID string

// The prices a cost computation needs; a table must hold each exactly once
// and nothing else.
const (
	PriceConsumptionExecutionTime PriceID = "functions.consumption.execution_time"
	PriceConsumptionExecutions    PriceID = "functions.consumption.executions"
	PriceFlexExecutionTime        PriceID = "functions.flex.on_demand.execution_time"
	PriceFlexExecutions           PriceID = "functions.flex.on_demand.executions"
	PriceBlobWrite                PriceID = "blob.hot.write_operations"
	PriceBlobRead                 PriceID = "blob.hot.read_operations"
	PriceBlobList                 PriceID = "blob.hot.list_operations"
	PriceBlobOther                PriceID = "blob.hot.other_operations"
	PriceBlobStorage              PriceID = "blob.hot.storage"
	PriceQueueClass1              PriceID = "queue.class1_operations"
	PriceQueueClass2              PriceID = "queue.class2_operations"
)

// PriceEventGridOperations prices Event Grid operations (an event's ingress
// into a topic, each delivery attempt). A table may hold it; tables
// compiled before it was priced do not, and runs measured without Event
// Grid counts need none.
const PriceEventGridOperations PriceID = "eventgrid.operations"

// OptionalPriceIDs lists the prices a table may hold besides PriceIDs.
func OptionalPriceIDs() []PriceID { return []PriceID{PriceEventGridOperations} }

// PriceIDs lists every price a table must hold, in table order.
func PriceIDs() []PriceID {
	return []PriceID{
		PriceConsumptionExecutionTime, PriceConsumptionExecutions,
		PriceFlexExecutionTime, PriceFlexExecutions,
		PriceBlobWrite, PriceBlobRead, PriceBlobList, PriceBlobOther, PriceBlobStorage,
		PriceQueueClass1, PriceQueueClass2,
	}
}

// Price is one figure of the price table: Amount money per Per units.
type Price struct {
	ID          PriceID `json:"id"`
	Description string  `json:"description"`
	// Amount is the money charged for Per units, in Currency.
	Amount float64 `json:"amount"`
	// Per is how many units Amount buys (1 for GB-s, 10,000 for storage
	// operations, 1,000,000 for executions).
	Per  float64 `json:"per"`
	Unit string  `json:"unit"`
	// FreePerMonth is the monthly free grant in Unit (0 when none). Costs in
	// this package never subtract it; it is kept so a report can state it.
	FreePerMonth float64 `json:"free_per_month"`
	Region       string  `json:"region"`
	Currency     string  `json:"currency"`
	// Seen is when the figure was seen at its source: a year, month or day
	// (2025, 2025-05, 2025-05-22), or an interval of two such dates
	// separated by "/" (2023/2025).
	Seen   string `json:"seen"`
	Source string `json:"source"`
	// Verified is true only when the figure was read at its source (the
	// Azure Retail Prices API or the pricing page) on the date in Seen.
	Verified bool   `json:"verified"`
	Note     string `json:"note,omitempty"`
	// Check is a query that re-checks the figure (optional).
	Check string `json:"check,omitempty"`
}

// String states the price: "0.06 USD per 100,000 operations".
func (p Price) String() string {
	return fmt.Sprintf("%s %s per %s %s", Sig(p.Amount, 4), p.Currency, grouped(p.Per), p.Unit)
}

// Cost is the money for quantity units at this price.
func (p Price) Cost(quantity float64) float64 {
	return quantity / p.Per * p.Amount
}

// PriceTable is a dated set of prices in one currency.
type PriceTable struct {
	Schema string `json:"schema"`
	// Date is when the table was compiled (YYYY-MM-DD); a report names it.
	Date     string  `json:"date"`
	Currency string  `json:"currency"`
	Note     string  `json:"note"`
	Prices   []Price `json:"prices"`
}

// Lookup returns the price with the given ID.
func (t *PriceTable) Lookup(id PriceID) (Price, bool) {
	for _, p := range t.Prices {
		if p.ID == id {
			return p, true
		}
	}
	return Price{}, false
}

// price returns the price with the given ID, or an error wrapping
// ErrBadPrices when the table lacks it.
func (t *PriceTable) price(id PriceID) (Price, error) {
	p, ok := t.Lookup(id)
	if !ok {
		return Price{}, fmt.Errorf("%w: no price %q", ErrBadPrices, id)
	}
	return p, nil
}

// Verified reports how many of the table's prices are verified, of how many.
func (t *PriceTable) Verified() (verified, total int) {
	for _, p := range t.Prices {
		if p.Verified {
			verified++
		}
	}
	return verified, len(t.Prices)
}

//go:embed prices.json
var defaultPricesJSON []byte

// DefaultPrices returns the price table kept in the repository
// (bench/prices.json), as compiled into the binary.
func DefaultPrices() (*PriceTable, error) {
	t, err := ParsePrices(bytes.NewReader(defaultPricesJSON))
	if err != nil {
		return nil, fmt.Errorf("built-in prices.json: %w", err)
	}
	return t, nil
}

// LoadPrices reads and validates a price table file. Any problem — bad JSON,
// an unknown or missing field, a missing, duplicate or unknown price, a
// negative amount, a currency other than the table's — is an error wrapping
// ErrBadPrices that names the file, the entry and the field.
func LoadPrices(path string) (*PriceTable, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load prices: %w", err)
	}
	defer f.Close()
	t, err := ParsePrices(f)
	if err != nil {
		return nil, fmt.Errorf("load prices %s: %w", path, err)
	}
	return t, nil
}

// rawPrice mirrors Price with pointers, so that a missing field can be told
// from a zero one.
type rawPrice struct {
	ID           *string  `json:"id"`
	Description  *string  `json:"description"`
	Amount       *float64 `json:"amount"`
	Per          *float64 `json:"per"`
	Unit         *string  `json:"unit"`
	FreePerMonth *float64 `json:"free_per_month"`
	Region       *string  `json:"region"`
	Currency     *string  `json:"currency"`
	Seen         *string  `json:"seen"`
	Source       *string  `json:"source"`
	Verified     *bool    `json:"verified"`
	Note         *string  `json:"note"`
	Check        *string  `json:"check"`
}

type rawTable struct {
	Schema   *string     `json:"schema"`
	Date     *string     `json:"date"`
	Currency *string     `json:"currency"`
	Note     *string     `json:"note"`
	Prices   []*rawPrice `json:"prices"`
}

var (
	seenDate     = `\d{4}(-\d{2}(-\d{2})?)?`
	seenPattern  = regexp.MustCompile(`^` + seenDate + `(/` + seenDate + `)?$`)
	currencyCode = regexp.MustCompile(`^[A-Z]{3}$`)
	regionName   = regexp.MustCompile(`^[a-z0-9]+$`)
)

// ParsePrices decodes and validates a price table; see LoadPrices.
func ParsePrices(r io.Reader) (*PriceTable, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var raw rawTable
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadPrices, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the table", ErrBadPrices)
	}

	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	str := func(where, field string, s *string, required bool) string {
		if s == nil {
			if required {
				bad("%s: missing field %q", where, field)
			}
			return ""
		}
		if required && strings.TrimSpace(*s) == "" {
			bad("%s: field %q is empty", where, field)
		}
		return *s
	}

	t := &PriceTable{
		Schema:   str("table", "schema", raw.Schema, true),
		Date:     str("table", "date", raw.Date, true),
		Currency: str("table", "currency", raw.Currency, true),
		Note:     str("table", "note", raw.Note, false),
	}
	if raw.Schema != nil && t.Schema != PriceSchema {
		bad("table: schema is %q, want %q", t.Schema, PriceSchema)
	}
	if raw.Date != nil {
		if _, err := time.Parse(time.DateOnly, t.Date); err != nil {
			bad("table: date %q is not YYYY-MM-DD", t.Date)
		}
	}
	if raw.Currency != nil && !currencyCode.MatchString(t.Currency) {
		bad("table: currency %q is not an ISO 4217 code", t.Currency)
	}
	if raw.Prices == nil {
		bad("table: missing field %q", "prices")
	}

	required := PriceIDs()
	known := append(PriceIDs(), OptionalPriceIDs()...)
	seen := map[PriceID]bool{}
	for i, rp := range raw.Prices {
		where := fmt.Sprintf("prices[%d]", i)
		if rp == nil {
			bad("%s: null entry", where)
			continue
		}
		if rp.ID != nil {
			where = fmt.Sprintf("prices[%d] (%s)", i, *rp.ID)
		}
		p := Price{
			ID:          PriceID(str(where, "id", rp.ID, true)),
			Description: str(where, "description", rp.Description, true),
			Unit:        str(where, "unit", rp.Unit, true),
			Region:      str(where, "region", rp.Region, true),
			Currency:    str(where, "currency", rp.Currency, true),
			Seen:        str(where, "seen", rp.Seen, true),
			Source:      str(where, "source", rp.Source, true),
			Note:        str(where, "note", rp.Note, false),
			Check:       str(where, "check", rp.Check, false),
		}
		num := func(field string, v *float64) float64 {
			if v == nil {
				bad("%s: missing field %q", where, field)
				return 0
			}
			if math.IsNaN(*v) || math.IsInf(*v, 0) || *v < 0 {
				bad("%s: %s is %v, want a finite number >= 0", where, field, *v)
			}
			return *v
		}
		p.Amount = num("amount", rp.Amount)
		p.Per = num("per", rp.Per)
		p.FreePerMonth = num("free_per_month", rp.FreePerMonth)
		if rp.Per != nil && *rp.Per == 0 {
			bad("%s: per is 0, want the number of units the amount buys", where)
		}
		if rp.Verified == nil {
			bad("%s: missing field %q", where, "verified")
		} else {
			p.Verified = *rp.Verified
		}
		if rp.ID != nil {
			switch {
			case !slices.Contains(known, p.ID):
				bad("%s: unknown price id %q", where, p.ID)
			case seen[p.ID]:
				bad("%s: duplicate price id %q", where, p.ID)
			}
			seen[p.ID] = true
		}
		if rp.Currency != nil && raw.Currency != nil && p.Currency != t.Currency {
			bad("%s: currency %q differs from the table's %q", where, p.Currency, t.Currency)
		}
		if rp.Region != nil && p.Region != "" && !regionName.MatchString(p.Region) {
			bad("%s: region %q is not an Azure region name such as \"eastus\"", where, p.Region)
		}
		if rp.Seen != nil && p.Seen != "" && !seenPattern.MatchString(p.Seen) {
			bad("%s: seen %q is not a date (2025, 2025-05, 2025-05-22) or an interval (2023/2025)", where, p.Seen)
		}
		t.Prices = append(t.Prices, p)
	}
	if raw.Prices != nil {
		for _, id := range required {
			if !seen[id] {
				bad("table: missing price %q", id)
			}
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrBadPrices, strings.Join(problems, "; "))
	}
	return t, nil
}
