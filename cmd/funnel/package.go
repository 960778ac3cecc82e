package main

import (
	"archive/zip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/funnelpipe/funnel/infra/localstack"
)

// cmdPackage assembles, per architecture and app, the app folder
// (localstack.AssembleApp), its zip (what is deployed to Azure: host.json at
// the root, one folder per function, the handler at mode 0755) and then a
// local.settings.json in the folder, outside the zip.
func cmdPackage(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "package", "[-root DIR] [-bin DIR] [-out DIR] [-arch LIST]")
	root := fs.String("root", ".", "the repository root (holds host.json and the app folders)")
	bin := fs.String("bin", "bin", "where `make build` put the handler binaries (bin/linux-<arch>/<app>)")
	out := fs.String("out", "dist/apps", "where to write the app folders and zips")
	archs := fs.String("arch", "amd64,arm64", "comma-separated architectures to package")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("%w: package takes no arguments", errUsage)
	}
	for _, arch := range strings.Split(*archs, ",") {
		for _, app := range localstack.Apps() {
			if err := ctx.Err(); err != nil {
				return err
			}
			dir := filepath.Join(*out, "linux-"+arch, app)
			if err := localstack.AssembleApp(*root, filepath.Join(*bin, "linux-"+arch, app), dir); err != nil {
				return fmt.Errorf("package %s for %s: %w", app, arch, err)
			}
			if err := zipDir(dir, dir+".zip"); err != nil {
				return fmt.Errorf("zip %s for %s: %w", app, arch, err)
			}
			// After the zip: local settings are for `func start` on this
			// machine, never deployed (func publish leaves them out too).
			if err := writeLocalSettings(filepath.Join(dir, "local.settings.json")); err != nil {
				return fmt.Errorf("package %s for %s: %w", app, arch, err)
			}
			fmt.Fprintf(e.stdout, "%s\n%s.zip\n", dir, dir)
		}
	}
	return nil
}

// writeLocalSettings writes the local.settings.json that `func start` (and
// `funnel host`) read in an app folder: the custom worker runtime, Azurite
// on its default ports, and funnel's settings with their defaults
// (localstack.AppSettings), which the function.json files' %FUNNEL_PREFIX%
// expressions need.
func writeLocalSettings(path string) error {
	values := localstack.AppSettings()
	values["FUNCTIONS_WORKER_RUNTIME"] = "custom"
	values["AzureWebJobsStorage"] = "UseDevelopmentStorage=true"
	b, err := json.MarshalIndent(map[string]any{"IsEncrypted": false, "Values": values}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// zipDir writes dir's files into a zip whose root is dir, keeping the
// executable bit (zip deployment of a custom handler needs it).
func zipDir(dir, zipPath string) error {
	f, err := os.Create(zipPath)
	if err != nil {
		return err
	}
	zw := zip.NewWriter(f)
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		h, err := zip.FileInfoHeader(info)
		if err != nil {
			return err
		}
		h.Name = filepath.ToSlash(rel)
		h.Method = zip.Deflate
		w, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer in.Close()
		_, err = io.Copy(w, in)
		return err
	})
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
