package localstack

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Apps returns the three function apps in pipeline order. Each app's
// function folders live in <repo>/<app>/functions and its handler binary is
// built from <repo>/cmd/<app>.
func Apps() []string { return []string{"partition", "aggregate", "merge"} }

// HandlerName is the file name of the handler binary in an app folder, as
// host.json's customHandler.description.defaultExecutablePath names it.
const HandlerName = "handler"

// AssembleApp builds the deployable folder of one app in dir (replacing
// whatever is there): root/host.json, a copy of each
// root/<app>/functions/<Function>/function.json as dir/<Function>/function.json,
// and binary copied to dir/handler (mode 0755). The app's name is dir's base
// name. The result runs unchanged under the real Functions host (`func
// start`), under funchost, and zipped on Azure.
func AssembleApp(root, binary, dir string) error {
	if _, err := os.Stat(binary); err != nil {
		return fmt.Errorf("handler binary: %w (run `make build` first)", err)
	}
	functions := filepath.Join(root, filepath.Base(dir), "functions")
	entries, err := os.ReadDir(functions)
	if err != nil {
		return fmt.Errorf("function definitions: %w", err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := copyFile(filepath.Join(root, "host.json"), filepath.Join(dir, "host.json"), 0o644); err != nil {
		return err
	}
	for _, fn := range entries {
		if !fn.IsDir() {
			continue
		}
		src := filepath.Join(functions, fn.Name(), "function.json")
		dst := filepath.Join(dir, fn.Name(), "function.json")
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := copyFile(src, dst, 0o644); err != nil {
			return err
		}
	}
	return copyFile(binary, filepath.Join(dir, HandlerName), 0o755)
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
