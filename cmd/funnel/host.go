package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/funnelpipe/funnel/infra/funchost"
)

// cmdHost runs one function app under the local Functions host in the
// foreground until SIGINT or SIGTERM, then drains in-flight invocations
// and prints the run's summary (invocations, resources, billing) as JSON.
func cmdHost(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "host", "--app DIR [--instances N] [--http ADDR] [--exec-prefix CMD] [--settings FILE] [--records FILE] [--flex-memory MB] [--differences]")
	appDir := fs.String("app", "", "function app `folder` (host.json, <function>/function.json)")
	instances := fs.Int("instances", 1, "handler processes (scaled-out instances) to run")
	httpAddr := fs.String("http", "127.0.0.1:7071", "`address` to serve HTTP triggers on")
	execPrefix := fs.String("exec-prefix", "", "command prepended to the handler, e.g. qemu-aarch64-static")
	settingsFile := fs.String("settings", "", "app settings `file`: a local.settings.json, or a JSON object of settings (default: the app's local.settings.json)")
	records := fs.String("records", "", "append one JSON line per invocation to `FILE`")
	flexMB := fs.Int("flex-memory", 2048, "Flex Consumption instance memory in MB for the billing summary: 512, 2048 or 4096")
	level := fs.String("log-level", "info", "log level: debug, info, warn or error")
	diffs := fs.Bool("differences", false, "print how this host knowingly differs from the real Functions host, and exit")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *diffs {
		fmt.Fprint(e.stdout, funchost.Differences)
		return nil
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("%w: host takes no arguments, got %q", errUsage, fs.Args())
	}
	if *appDir == "" {
		return fmt.Errorf("%w: --app is required", errUsage)
	}
	if *instances < 1 || *instances > maxInstances {
		return fmt.Errorf("%w: --instances must be 1..%d", errUsage, maxInstances)
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		return fmt.Errorf("%w: --log-level %q: use debug, info, warn or error", errUsage, *level)
	}
	var settings map[string]string
	if *settingsFile != "" {
		var err error
		if settings, err = readSettingsFile(*settingsFile); err != nil {
			return err
		}
	}
	h, err := funchost.New(funchost.Config{
		AppDir:       *appDir,
		Instances:    *instances,
		ExecPrefix:   strings.Fields(*execPrefix),
		HTTPAddr:     *httpAddr,
		Settings:     settings,
		RecordsPath:  *records,
		FlexMemoryMB: *flexMB,
		Logger:       slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: lv})),
	})
	if err != nil {
		if errors.Is(err, funchost.ErrConfig) {
			return fmt.Errorf("%w: %w", errUsage, err)
		}
		return err
	}
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	select {
	case <-h.Ready():
		select {
		case err := <-done:
			return err
		default:
		}
		fmt.Fprintf(e.stderr, "funnel host: %s is serving on %s (Ctrl-C to stop)\n", *appDir, h.HTTPURL())
	case err := <-done:
		return err
	}
	if err := <-done; err != nil {
		return err
	}
	b, err := json.MarshalIndent(h.Summary(), "", "  ")
	if err != nil {
		return fmt.Errorf("summary: %w", err)
	}
	fmt.Fprintln(e.stdout, string(b))
	return nil
}

// readSettingsFile reads app settings from a local.settings.json ("Values")
// or from a plain JSON object of string settings.
func readSettingsFile(path string) (map[string]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: --settings: %w", errUsage, err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("%w: --settings %s: not a JSON object: %v", errUsage, path, err)
	}
	if v, ok := doc["Values"]; ok {
		doc = nil // Unmarshal into a nil map replaces, not merges
		if err := json.Unmarshal(v, &doc); err != nil {
			return nil, fmt.Errorf("%w: --settings %s: Values is not an object: %v", errUsage, path, err)
		}
	}
	out := make(map[string]string, len(doc))
	for k, v := range doc {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, fmt.Errorf("%w: --settings %s: %s must be a string", errUsage, path, k)
		}
		out[k] = s
	}
	return out, nil
}
