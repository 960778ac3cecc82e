package funchost

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The schemas are SchemaStore's (see testdata/schemas/README.md).
const (
	hostSchemaFile     = "testdata/schemas/host.schema.json"
	functionSchemaFile = "testdata/schemas/function.schema.json"
	// strictFunctionSchemaFile adds what the host requires and SchemaStore
	// does not check (a blob binding's path, a queue binding's queueName).
	strictFunctionSchemaFile = "testdata/schemas/function.strict.schema.json"
)

// compileSchema compiles a schema file (and, for the strict function
// schema, SchemaStore's function schema it builds on). function.schema.json
// declares draft-04 but needs draft-07 rules (its sqlBinding branch uses
// const), so every $schema is dropped and draft-07 is the compiler's
// default.
func compileSchema(t *testing.T, file string) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7)
	for _, f := range []string{hostSchemaFile, functionSchemaFile, strictFunctionSchemaFile} {
		fh, err := os.Open(f)
		require.NoError(t, err)
		doc, err := jsonschema.UnmarshalJSON(fh)
		fh.Close()
		require.NoError(t, err)
		obj, ok := doc.(map[string]any)
		require.True(t, ok, "%s is not a JSON object", f)
		delete(obj, "$schema")
		delete(obj, "$id")
		delete(obj, "id")
		require.NoError(t, c.AddResource(schemaURL(f), obj))
	}
	s, err := c.Compile(schemaURL(file))
	require.NoError(t, err)
	return s
}

func schemaURL(file string) string { return "file:///schemas/" + filepath.Base(file) }

func validateJSON(s *jsonschema.Schema, raw []byte) error {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	return s.Validate(doc)
}

// configFiles returns every host.json and function.json tracked in the
// repository (git ls-files; a walk of the module when git is unavailable)
// plus those under this package's testdata.
func configFiles(t *testing.T) (hosts, functions []string) {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(root, "go.mod"))
	require.NoError(t, err, "module root not found from the package folder")
	var files []string
	if out, err := exec.Command("git", "-C", root, "ls-files", "--", "*host.json", "*function.json").Output(); err == nil {
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if l != "" {
				files = append(files, filepath.Join(root, l))
			}
		}
	} else {
		require.NoError(t, filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && (d.Name() == "node_modules" || d.Name() == ".git") {
				return filepath.SkipDir
			}
			if !d.IsDir() && (d.Name() == "host.json" || d.Name() == "function.json") {
				files = append(files, p)
			}
			return nil
		}))
	}
	require.NoError(t, filepath.WalkDir("testdata/apps", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (d.Name() == "host.json" || d.Name() == "function.json") {
			abs, aerr := filepath.Abs(p)
			if aerr != nil {
				return aerr
			}
			files = append(files, abs)
		}
		return err
	}))
	seen := map[string]bool{}
	for _, f := range files {
		if seen[f] {
			continue
		}
		seen[f] = true
		if filepath.Base(f) == "host.json" {
			hosts = append(hosts, f)
		} else if filepath.Base(f) == "function.json" {
			functions = append(functions, f)
		}
	}
	return hosts, functions
}

// TestConfigFilesMatchSchemas checks that every host.json and
// function.json of the repository is valid for the real host's schemas.
func TestConfigFilesMatchSchemas(t *testing.T) {
	hostSchema := compileSchema(t, hostSchemaFile)
	fnSchema := compileSchema(t, strictFunctionSchemaFile)
	hosts, functions := configFiles(t)
	require.NotEmpty(t, hosts)
	require.NotEmpty(t, functions)
	for _, group := range []struct {
		files  []string
		schema *jsonschema.Schema
	}{{hosts, hostSchema}, {functions, fnSchema}} {
		for _, f := range group.files {
			raw, err := os.ReadFile(f)
			if errors.Is(err, fs.ErrNotExist) {
				continue // tracked but deleted in the work tree
			}
			require.NoError(t, err)
			assert.NoError(t, validateJSON(group.schema, raw), "%s", f)
		}
	}
	t.Logf("validated %d host.json and %d function.json files", len(hosts), len(functions))
}

// TestSchemasRejectWrongFiles shows that the validation can fail: the
// schemas, compiled as above, refuse the mistakes funchost also refuses.
func TestSchemasRejectWrongFiles(t *testing.T) {
	storeSchema := compileSchema(t, functionSchemaFile)
	fnSchema := compileSchema(t, strictFunctionSchemaFile)
	hostSchema := compileSchema(t, hostSchemaFile)

	// SchemaStore's schema alone catches a wrong direction but not a
	// missing path: its binding items never require anything.
	assert.Error(t, validateJSON(storeSchema, []byte(`{"bindings": [{"type": "queueTrigger", "direction": "out", "name": "m", "queueName": "queue1"}]}`)))
	assert.NoError(t, validateJSON(storeSchema, []byte(`{"bindings": [{"type": "blobTrigger", "direction": "in", "name": "b"}]}`)))

	for _, c := range []struct {
		name   string
		schema *jsonschema.Schema
		json   string
		valid  bool
	}{
		{"queue trigger", fnSchema, `{"bindings": [{"type": "queueTrigger", "direction": "in", "name": "m", "queueName": "queue1"}]}`, true},
		{"queueTrigger with direction out", fnSchema, `{"bindings": [{"type": "queueTrigger", "direction": "out", "name": "m", "queueName": "queue1"}]}`, false},
		{"blob trigger", fnSchema, `{"bindings": [{"type": "blobTrigger", "direction": "in", "name": "b", "path": "c1/{name}"}]}`, true},
		{"blobTrigger without path", fnSchema, `{"bindings": [{"type": "blobTrigger", "direction": "in", "name": "b"}]}`, false},
		{"queue output without queueName", fnSchema, `{"bindings": [{"type": "queueTrigger", "direction": "in", "name": "m", "queueName": "queue1"}, {"type": "queue", "direction": "out", "name": "o"}]}`, false},
		{"binding without name", fnSchema, `{"bindings": [{"type": "queueTrigger", "direction": "in", "queueName": "queue1"}]}`, false},
		{"host.json version 2.0", hostSchema, `{"version": "2.0"}`, true},
		{"host.json with a bad functionTimeout", hostSchema, `{"version": "2.0", "functionTimeout": "5 minutes"}`, false},
		{"host.json with batchSize 64", hostSchema, `{"version": "2.0", "extensions": {"queues": {"batchSize": 64}}}`, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := validateJSON(c.schema, []byte(c.json))
			if c.valid {
				assert.NoError(t, err)
			} else {
				assert.Error(t, err)
			}
		})
	}
	// funchost agrees on the two function.json mistakes.
	_, err := parseFunctionJSON("F", "f.json", []byte(`{"bindings": [{"type": "queueTrigger", "direction": "out", "name": "m", "queueName": "q1q"}]}`))
	assert.ErrorIs(t, err, ErrConfig)
	_, err = parseFunctionJSON("F", "f.json", []byte(`{"bindings": [{"type": "blobTrigger", "direction": "in", "name": "b"}]}`))
	assert.ErrorIs(t, err, ErrConfig)
}

// TestRepositoryAppsLoad parses the repository's own app configurations
// with funchost's parser, so that funnel up cannot meet a refusal at run
// time.
func TestRepositoryAppsLoad(t *testing.T) {
	hosts, functions := configFiles(t)
	for _, f := range hosts {
		raw, err := os.ReadFile(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		require.NoError(t, err)
		_, err = parseHostJSON(f, raw, filepath.Dir(f), 2)
		assert.NoError(t, err, f)
	}
	for _, f := range functions {
		raw, err := os.ReadFile(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		require.NoError(t, err)
		_, err = parseFunctionJSON(filepath.Base(filepath.Dir(f)), f, raw)
		assert.NoError(t, err, f)
	}
}
