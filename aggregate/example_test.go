package aggregate_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/funnelpipe/funnel/aggregate"
)

const rows = "1|Customer#000000001|IVhzIApeRb ot,c,E|15|25-989-741-2988|711.56|BUILDING|to the even|\n" +
	"2|Customer#000000002|XSTf4,NCwDVaWNe6tE|13|23-768-687-3665|121.65|AUTOMOBILE|l accounts|\n" +
	"3|Customer#000000003|MG9kdTD2WBHm|1|11-719-748-3364|7498.12|AUTOMOBILE| deposits eat|\n" +
	"4|Customer#000000004|XxVSJsLAGtn|15|25-430-914-2194|-0.05|MACHINERY|requests|\n"

// Two work units cut a file in the middle of a line; each owns the lines
// that start in it, and merging their partials gives the whole file's answer.
func ExampleScanRange() {
	ctx := context.Background()
	file := "customer.000.csv"
	cut := int64(100) // inside the second line
	var total aggregate.Partial
	for _, rng := range []aggregate.Range{{File: file, Start: 0, End: cut}, {File: file, Start: cut, End: int64(len(rows))}} {
		// The reader starts one byte before the range, as a blob range read
		// from max(0, start-1) would.
		r := strings.NewReader(rows[max(0, rng.Start-1):])
		p, err := aggregate.ScanRange(ctx, r, rng, aggregate.DefaultLayout())
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("[%d, %d): %d rows\n", rng.Start, rng.End, p.Rows)
		total.Merge(p)
	}
	if err := aggregate.NewResult(&total).WriteCSV(os.Stdout); err != nil {
		fmt.Println(err)
	}
	// Output:
	// [0, 100): 2 rows
	// [100, 340): 2 rows
	// key,name,customers,mean,min,max,total
	// 1,ARGENTINA,1,7498.12,7498.12,7498.12,7498.12
	// 13,JORDAN,1,121.65,121.65,121.65,121.65
	// 15,MOROCCO,2,355.76,-0.05,711.56,711.51
}

// A Partial travels between stages as compact JSON.
func ExamplePartial_MarshalJSON() {
	p, err := aggregate.Scan(context.Background(), strings.NewReader(rows+"not a row\n"), "customer.000.csv", aggregate.DefaultLayout())
	if err != nil {
		fmt.Println(err)
		return
	}
	b, err := json.Marshal(p)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(b))
	// Output:
	// {"rows":4,"rejected":1,"bytes":350,"nations":[{"key":1,"count":1,"sum":749812,"min":749812,"max":749812},{"key":13,"count":1,"sum":12165,"min":12165,"max":12165},{"key":15,"count":2,"sum":71151,"min":-5,"max":71156}],"samples":[{"file":"customer.000.csv","offset":340,"reason":"too few fields (need 6)","line":"not a row"}]}
}

func ExampleResult_WriteTable() {
	p, err := aggregate.Scan(context.Background(), strings.NewReader(rows), "customer.000.csv", aggregate.DefaultLayout())
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := aggregate.NewResult(p).WriteTable(os.Stdout); err != nil {
		fmt.Println(err)
	}
	// Output:
	//   KEY  NATION     CUSTOMERS     MEAN      MIN      MAX    TOTAL
	//     1  ARGENTINA          1  7498.12  7498.12  7498.12  7498.12
	//    13  JORDAN             1   121.65   121.65   121.65   121.65
	//    15  MOROCCO            2   355.76    -0.05   711.56   711.51
	// rows accepted: 4, rejected: 0
}
