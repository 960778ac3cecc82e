package main

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/funnelpipe/funnel/infra/funchost"
	"github.com/funnelpipe/funnel/infra/localstack"
)

// cmdTriggers prints every function's trigger as the host resolves it from
// the function.json files and the app settings, one tab-separated line per
// function:
//
//	app  function  type  source  name
//
// where name is the queue (queueTrigger), the container (blobTrigger, with
// source EventGrid or LogsAndContainerScan), the schedule (timerTrigger) or
// the route (httpTrigger) and
// source is "-" when the type has none. The deployment hook creates one
// Event Grid subscription per blobTrigger/EventGrid line, so the function
// names and containers come from the function.json files and nowhere else.
func cmdTriggers(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "triggers", "[--apps DIR] [--set NAME=VALUE]...")
	apps := fs.String("apps", "dist/apps/linux-amd64", "the app folders (`make package` output)")
	var sets settingFlags
	fs.Var(&sets, "set", "an app setting `NAME=VALUE` over the defaults ("+defaultSettingsText()+"); repeatable")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("%w: triggers takes no arguments, got %q", errUsage, fs.Args())
	}
	settings := localstack.AppSettings()
	for k, v := range sets {
		settings[k] = v
	}
	for _, app := range localstack.Apps() {
		if err := ctx.Err(); err != nil {
			return err
		}
		ts, err := funchost.Triggers(filepath.Join(*apps, app), settings)
		if err != nil {
			return fmt.Errorf("%s: %w", app, err)
		}
		for _, t := range ts {
			if t.Disabled {
				continue
			}
			source, name := "-", t.Route
			switch t.Type {
			case "queueTrigger":
				name = t.Queue
			case "blobTrigger":
				source, name = t.Source, t.Container
			case "timerTrigger":
				name = t.Schedule
			}
			if _, err := fmt.Fprintf(e.stdout, "%s\t%s\t%s\t%s\t%s\n", app, t.Function, t.Type, source, name); err != nil {
				return err
			}
		}
	}
	return nil
}

// settingFlags collects repeated NAME=VALUE flags.
type settingFlags map[string]string

func (s *settingFlags) String() string { return fmt.Sprint(map[string]string(*s)) }

func (s *settingFlags) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || strings.TrimSpace(k) == "" {
		return fmt.Errorf("want NAME=VALUE, got %q", v)
	}
	if *s == nil {
		*s = settingFlags{}
	}
	(*s)[strings.TrimSpace(k)] = val
	return nil
}

func defaultSettingsText() string {
	var parts []string
	for k, v := range localstack.AppSettings() {
		parts = append(parts, k+"="+v)
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}
