package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/funnelpipe/funnel/job"
)

// cmdResult prints a finished job's result: a table, CSV or JSON.
func cmdResult(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "result", "[--csv | --json] [--api URL] [--state FILE] JOB")
	asCSV := fs.Bool("csv", false, "print the result as CSV (key,name,customers,mean,min,max,total)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	af := addAPIFlags(fs)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if *asCSV && *asJSON {
		return fmt.Errorf("%w: give --csv or --json, not both", errUsage)
	}
	id, err := oneJobID("result", pos)
	if err != nil {
		return err
	}
	c, err := af.client(e)
	if err != nil {
		return err
	}
	format := "json"
	if *asCSV {
		format = "csv"
	}
	data, err := c.Result(ctx, id, format)
	if err != nil {
		return err
	}
	if *asCSV || *asJSON {
		return writeWithNewline(e.stdout, data)
	}
	var res job.Result
	if err := json.Unmarshal(data, &res); err != nil {
		return fmt.Errorf("job %s: result: %w", id, err)
	}
	return res.Result.WriteTable(e.stdout)
}

// writeWithNewline writes data, ending it with a newline if it has none.
func writeWithNewline(w io.Writer, data []byte) error {
	if len(data) > 0 && data[len(data)-1] != '\n' {
		data = append(data[:len(data):len(data)], '\n')
	}
	_, err := w.Write(data)
	return err
}
