package azure_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/funnelpipe/funnel/infra/funchost"
	"github.com/funnelpipe/funnel/infra/localstack"
	"github.com/funnelpipe/funnel/job"
	"github.com/funnelpipe/funnel/transport"
	"github.com/funnelpipe/funnel/transport/account"
)

const repoRoot = "../.."

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

// azureYAML is the part of azd's azure.yaml schema funnel uses.
type azureYAML struct {
	Name     string `yaml:"name"`
	Metadata struct {
		Template string `yaml:"template"`
	} `yaml:"metadata"`
	Infra struct {
		Provider string `yaml:"provider"`
		Path     string `yaml:"path"`
		Module   string `yaml:"module"`
	} `yaml:"infra"`
	RequiredVersions struct {
		Azd string `yaml:"azd"`
	} `yaml:"requiredVersions"`
	Services map[string]struct {
		Project  string `yaml:"project"`
		Dist     string `yaml:"dist"`
		Language string `yaml:"language"`
		Host     string `yaml:"host"`
	} `yaml:"services"`
	Hooks map[string]struct {
		Shell           string `yaml:"shell"`
		Run             string `yaml:"run"`
		ContinueOnError bool   `yaml:"continueOnError"`
		Interactive     bool   `yaml:"interactive"`
	} `yaml:"hooks"`
}

func TestAzureYAML(t *testing.T) {
	var y azureYAML
	dec := yaml.NewDecoder(strings.NewReader(read(t, filepath.Join(repoRoot, "azure.yaml"))))
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(&y))
	assert.Equal(t, "funnel", y.Name)
	assert.Equal(t, "bicep", y.Infra.Provider)
	assert.FileExists(t, filepath.Join(repoRoot, y.Infra.Path, y.Infra.Module+".bicep"))
	assert.FileExists(t, filepath.Join(repoRoot, y.Infra.Path, y.Infra.Module+".parameters.json"))

	var names []string
	for name, s := range y.Services {
		names = append(names, name)
		assert.Equal(t, "function", s.Host, name)
		// azd's "go" is the native Go runtime; funnel's apps are custom
		// handlers that the hooks build. azd deploys a custom service's
		// `dist` as it is when it ends in .zip, and takes the path as
		// written (not relative to `project`), so the project is the root
		// and both readings name the same file.
		assert.Equal(t, "custom", s.Language, name)
		assert.Equal(t, ".", s.Project, name)
		assert.Equal(t, "./dist/apps/linux-amd64/"+name+".zip", s.Dist, "%s: only linux/amd64 runs on a Functions plan", name)
	}
	assert.ElementsMatch(t, localstack.Apps(), names)
	// language: custom (and a .zip dist deployed unchanged) arrived in azd
	// 1.20.0; setup.md names the same minimum.
	assert.Equal(t, ">= 1.20.0", y.RequiredVersions.Azd)
	assert.Contains(t, read(t, filepath.Join(repoRoot, "setup.md")), "azd 1.20.0")

	// The zips are built by the hooks: prepackage for `azd package` and
	// `azd up`, predeploy for `azd deploy` (which does not fire prepackage).
	assert.Equal(t, y.Hooks["prepackage"].Run, y.Hooks["predeploy"].Run)
	for _, hook := range []string{"prepackage", "predeploy", "postdeploy"} {
		h, ok := y.Hooks[hook]
		require.True(t, ok, "hook %s", hook)
		assert.Equal(t, "sh", h.Shell)
		assert.False(t, h.ContinueOnError, "%s: a failed hook must stop azd", hook)
		fi, err := os.Stat(filepath.Join(repoRoot, h.Run))
		require.NoError(t, err, hook)
		assert.NotZero(t, fi.Mode()&0o111, "%s: %s must be executable", hook, h.Run)
	}
}

// bicepFile is what the wiring test reads from one .bicep file.
type bicepFile struct {
	text    string
	code    string          // text without comment lines
	params  map[string]bool // name → has a default
	outputs map[string]bool
	modules map[string]string          // symbolic name → path
	passed  map[string]map[string]bool // module → params given
}

var (
	paramRe  = regexp.MustCompile(`(?m)^param (\w+) \w+( =)?`)
	outputRe = regexp.MustCompile(`(?m)^output (\w+) `)
	moduleRe = regexp.MustCompile(`(?m)^module (\w+) '([^']+)' = `)
	keyRe    = regexp.MustCompile(`^\s*'?([\w-]+)'?\s*:`)
)

func parseBicep(t *testing.T, path string) *bicepFile {
	t.Helper()
	text := read(t, path)
	for _, pair := range []string{"{}", "[]", "()"} {
		assert.Equal(t, strings.Count(text, pair[:1]), strings.Count(text, pair[1:]), "%s: unbalanced %s", path, pair)
	}
	var code []string
	for line := range strings.SplitSeq(text, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "//") {
			code = append(code, line)
		}
	}
	f := &bicepFile{text: text, code: strings.Join(code, "\n"), params: map[string]bool{}, outputs: map[string]bool{}, modules: map[string]string{}, passed: map[string]map[string]bool{}}
	for _, m := range paramRe.FindAllStringSubmatch(text, -1) {
		f.params[m[1]] = m[2] != ""
	}
	for _, m := range outputRe.FindAllStringSubmatch(text, -1) {
		f.outputs[m[1]] = true
	}
	for _, loc := range moduleRe.FindAllStringSubmatchIndex(text, -1) {
		name, modPath := text[loc[2]:loc[3]], text[loc[4]:loc[5]]
		f.modules[name] = modPath
		f.passed[name] = keysOf(t, blockAfter(t, text[loc[1]:], "params: {"))
	}
	return f
}

// blockAfter returns the text inside the braces that open at marker.
func blockAfter(t *testing.T, text, marker string) string {
	t.Helper()
	i := strings.Index(text, marker)
	require.GreaterOrEqual(t, i, 0, "no %q", marker)
	start := i + len(marker)
	depth := 1
	for j := start; j < len(text); j++ {
		switch text[j] {
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return text[start:j]
			}
		}
	}
	t.Fatalf("unclosed %q", marker)
	return ""
}

// keysOf returns the keys at the top level of an object body.
func keysOf(t *testing.T, body string) map[string]bool {
	keys := map[string]bool{}
	depth := 0
	for line := range strings.SplitSeq(body, "\n") {
		if depth == 0 {
			if m := keyRe.FindStringSubmatch(line); m != nil && !strings.HasPrefix(strings.TrimSpace(line), "//") {
				keys[m[1]] = true
			}
		}
		depth += strings.Count(line, "{") + strings.Count(line, "[") - strings.Count(line, "}") - strings.Count(line, "]")
	}
	return keys
}

func bicepFiles(t *testing.T) map[string]*bicepFile {
	files := map[string]*bicepFile{}
	paths, err := filepath.Glob("*.bicep")
	require.NoError(t, err)
	more, err := filepath.Glob("modules/*.bicep")
	require.NoError(t, err)
	for _, p := range append(paths, more...) {
		files[filepath.ToSlash(p)] = parseBicep(t, p)
	}
	require.Contains(t, files, "main.bicep")
	return files
}

// TestBicepWiring checks what the Bicep compiler would: every module file
// exists, gets every parameter it requires and only parameters it
// declares, and every output read from a module is declared by it.
func TestBicepWiring(t *testing.T) {
	files := bicepFiles(t)
	for path, f := range files {
		for mod, modPath := range f.modules {
			target := filepath.ToSlash(filepath.Join(filepath.Dir(path), modPath))
			m, ok := files[target]
			require.True(t, ok, "%s: module %s: no file %s", path, mod, target)
			for p := range f.passed[mod] {
				assert.Contains(t, m.params, p, "%s: module %s passes %s, which %s does not declare", path, mod, p, target)
			}
			for p, hasDefault := range m.params {
				if !hasDefault {
					assert.Contains(t, f.passed[mod], p, "%s: module %s lacks required parameter %s", path, mod, p)
				}
			}
			for _, ref := range regexp.MustCompile(`\b`+mod+`(?:\[\d+\])?\.outputs\.(\w+)`).FindAllStringSubmatch(f.text, -1) {
				assert.Contains(t, m.outputs, ref[1], "%s: %s.outputs.%s is not an output of %s", path, mod, ref[1], target)
			}
		}
		for p := range f.params {
			uses := regexp.MustCompile(`\b`+p+`\b`).FindAllStringIndex(f.text, -1)
			assert.Greater(t, len(uses), 1, "%s: parameter %s is never used", path, p)
		}
	}
	params := read(t, "main.parameters.json")
	for p, hasDefault := range files["main.bicep"].params {
		if !hasDefault {
			assert.Contains(t, params, `"`+p+`"`, "main.parameters.json must give azd's value for %s", p)
		}
	}
}

var spaces = regexp.MustCompile(`\s+`)

// flat is text with runs of white space made one space.
func flat(s string) string { return spaces.ReplaceAllString(s, " ") }

func TestBicepFlexApp(t *testing.T) {
	files := bicepFiles(t)
	app := flat(files["modules/functionapp.bicep"].text)
	for _, want := range []string{
		"kind: 'functionapp,linux'",
		"sku: { tier: 'FlexConsumption' name: 'FC1' }",
		"runtime: { name: 'custom' version: '1.0' }", // exact: an unknown version is accepted and never starts
		"instanceMemoryMB: instanceMemoryMB",
		"maximumInstanceCount: maximumInstanceCount",
		"type: 'UserAssignedIdentity' userAssignedIdentityResourceId: identityId",
		"'azd-service-name': serviceName",
	} {
		assert.Contains(t, app, want)
	}
	main := flat(files["main.bicep"].text)
	assert.Contains(t, main, "param instanceMemoryMB int = 2048")
	assert.Contains(t, main, "param maximumInstanceCount int = 100")
	assert.Contains(t, main, fmt.Sprintf("param funnelPrefix string = '%s'", transport.DefaultPrefix))
	assert.Contains(t, main, fmt.Sprintf("param jobsContainer string = '%s'", job.DefaultContainer))

	storage := flat(files["modules/storage.bicep"].text)
	for _, want := range []string{"kind: 'StorageV2'", "allowSharedKeyAccess: false", "minimumTlsVersion: 'TLS1_2'", "allowBlobPublicAccess: false"} {
		assert.Contains(t, storage, want)
	}
	assert.Contains(t, flat(files["modules/monitoring.bicep"].text), "DisableLocalAuth: true")
	eg := flat(files["modules/eventgrid.bicep"].text)
	assert.Contains(t, eg, "'Microsoft.EventGrid/systemTopics@")
	assert.Contains(t, eg, "topicType: 'Microsoft.Storage.StorageAccounts'")

	// No keys and no settings Flex refuses, anywhere.
	for path, f := range files {
		for _, banned := range []string{"FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_EXTENSION_VERSION", "WEBSITE_RUN_FROM_PACKAGE", "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING", "listKeys(", "AccountKey=", "linuxFxVersion"} {
			assert.False(t, strings.Contains(f.code, banned), "%s sets %s", path, banned)
		}
	}
}

func TestBicepRoles(t *testing.T) {
	rbac := flat(bicepFiles(t)["modules/rbac.bicep"].text)
	roles := map[string]string{
		"storageBlobDataOwner":        "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
		"storageQueueDataContributor": "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
		"storageTableDataContributor": "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
		"monitoringMetricsPublisher":  "3913510d-42f4-4e42-8a64-420c390055eb",
	}
	for name, id := range roles {
		assert.Contains(t, rbac, fmt.Sprintf("var %s = '%s'", name, id))
	}
	assert.Contains(t, rbac, "for role in [storageBlobDataOwner, storageQueueDataContributor, storageTableDataContributor]: {")
	assert.Contains(t, rbac, "scope: account")
	assert.Contains(t, rbac, "roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher) principalId: identityPrincipalId")
}

// appSettings returns the app settings functionapp.bicep sets, with
// values that stand for what Azure fills in.
func appSettings(t *testing.T) map[string]string {
	text := bicepFiles(t)["modules/functionapp.bicep"].text
	body := blockAfter(t, text[strings.Index(text, "name: 'appsettings'"):], "properties: {")
	example := map[string]string{
		"account.properties.primaryEndpoints.blob":  "https://stfunnelabc.blob.core.windows.net/",
		"account.properties.primaryEndpoints.queue": "https://stfunnelabc.queue.core.windows.net/",
		"account.properties.primaryEndpoints.table": "https://stfunnelabc.table.core.windows.net/",
		"identityClientId":                          "00000000-0000-0000-0000-00000000000c",
		"funnelPrefix":                              transport.DefaultPrefix,
		"jobsContainer":                             job.DefaultContainer,
	}
	settings := map[string]string{}
	for line := range strings.SplitSeq(body, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || strings.HasPrefix(k, "//") {
			continue
		}
		v = strings.TrimSpace(v)
		if e, ok := example[v]; ok {
			v = e
		}
		settings[k] = strings.Trim(v, "'")
	}
	return settings
}

// TestBicepSettingsAreWhatTheCodeReads: the deployed apps get every funnel
// setting every other launcher sets, and the storage settings make
// account.FromEnv choose the user-assigned managed identity.
func TestBicepSettingsAreWhatTheCodeReads(t *testing.T) {
	settings := appSettings(t)
	for k, v := range localstack.AppSettings() {
		assert.Equal(t, v, settings[k], k)
	}
	for _, k := range []string{"APPLICATIONINSIGHTS_CONNECTION_STRING", "APPLICATIONINSIGHTS_AUTHENTICATION_STRING", "AzureWebJobsStorage__tableServiceUri"} {
		assert.Contains(t, settings, k)
	}
	assert.NotContains(t, settings, "AzureWebJobsStorage", "no connection string in Azure")
	cfg, err := account.FromEnv(func(k string) string { return settings[k] }, account.DefaultConnection)
	require.NoError(t, err)
	assert.Equal(t, account.Config{
		BlobURL: "https://stfunnelabc.blob.core.windows.net/", QueueURL: "https://stfunnelabc.queue.core.windows.net/",
		TableURL: "https://stfunnelabc.table.core.windows.net/", Credential: "managedidentity", ClientID: "00000000-0000-0000-0000-00000000000c",
	}, cfg)
	a, err := account.Open(cfg, account.Options{})
	require.NoError(t, err)
	assert.Contains(t, a.Config().String(), "managedidentity, client 00000000-0000-0000-0000-00000000000c")
}

// TestBicepCreatesWhatTheTriggersListenOn: every trigger queue and
// container of the packaged apps (resolved with the default FUNNEL_PREFIX)
// is created by the Bicep, every queue an output binding writes to is
// created and has a trigger listening on it, and the app names keep host
// IDs apart.
func TestBicepCreatesWhatTheTriggersListenOn(t *testing.T) {
	main := bicepFiles(t)["main.bicep"].text
	created := strings.ReplaceAll(blockAfter(t, main[strings.Index(main, "module storage"):], "params: {"), "${funnelPrefix}", transport.DefaultPrefix)
	created = strings.ReplaceAll(created, "jobsContainer", "'"+job.DefaultContainer+"'")
	apps := assembleApps(t)
	settings := localstack.AppSettings()
	listened := map[string]bool{}
	written := map[string]string{}
	for _, app := range localstack.Apps() {
		ts, err := funchost.Triggers(filepath.Join(apps, app), settings)
		require.NoError(t, err)
		for _, tr := range ts {
			switch tr.Type {
			case "queueTrigger":
				assert.Contains(t, created, "'"+tr.Queue+"'", "%s/%s", app, tr.Function)
				listened[tr.Queue] = true
			case "blobTrigger":
				assert.Contains(t, created, "'"+tr.Container+"'", "%s/%s", app, tr.Function)
			}
			for _, q := range tr.OutputQueues {
				written[q] = app + "/" + tr.Function
			}
		}
	}
	require.NotEmpty(t, written, "the job API's plan message is a queue output")
	for q, fn := range written {
		assert.Contains(t, created, "'"+q+"'", "%s writes to it", fn)
		assert.True(t, listened[q], "%s writes to %s, which no trigger listens on", fn, q)
	}
	assert.Contains(t, created, "'"+job.DefaultContainer+"'")

	m := regexp.MustCompile(`name: '(func-)\$\{app\}(-)\$\{resourceToken\}'`).FindStringSubmatch(main)
	require.NotNil(t, m, "app name template")
	token := "abcdefghijklm" // uniqueString is 13 characters
	var hostIDs []string
	for _, app := range localstack.Apps() {
		name := m[1] + app + m[2] + token
		assert.LessOrEqual(t, len(name), 60, name)
		hostIDs = append(hostIDs, name[:min(32, len(name))])
	}
	slices.Sort(hostIDs)
	assert.Len(t, slices.Compact(hostIDs), len(localstack.Apps()), "app names must differ in their first 32 characters")
}

// assembleApps lays out the three apps as `make package` does, with a
// stand-in handler, and returns the folder.
func assembleApps(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "handler-bin")
	require.NoError(t, os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755))
	apps := filepath.Join(dir, "apps")
	for _, app := range localstack.Apps() {
		require.NoError(t, localstack.AssembleApp(repoRoot, bin, filepath.Join(apps, app)))
		require.NoError(t, os.WriteFile(filepath.Join(apps, app+".zip"), []byte("zip of "+app), 0o644))
	}
	return apps
}

func TestHookScriptsParse(t *testing.T) {
	scripts, err := filepath.Glob("scripts/*.sh")
	require.NoError(t, err)
	require.NotEmpty(t, scripts)
	for _, s := range scripts {
		out, err := exec.Command("bash", "-n", s).CombinedOutput()
		assert.NoError(t, err, "bash -n %s: %s", s, out)
	}
	if _, err := exec.LookPath("shellcheck"); err != nil {
		t.Log("shellcheck not installed; only bash -n checked the hook scripts")
		return
	}
	out, err := exec.Command("shellcheck", append([]string{"--severity=style"}, scripts...)...).CombinedOutput()
	assert.NoError(t, err, "shellcheck: %s", out)
}

// TestPostdeployHook runs the postdeploy hook against a fake az that
// records its calls, with the real funnel CLI reading the packaged
// function.json files: each app's zip is deployed, and every EventGrid
// blob trigger gets its subscription to Host.Functions.<Name> on its
// container.
func TestPostdeployHook(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the funnel CLI")
	}
	dir := t.TempDir()
	funnel := filepath.Join(dir, "funnel")
	build := exec.Command("go", "build", "-o", funnel, "./cmd/funnel")
	build.Dir = repoRoot
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)

	fakeBin := filepath.Join(dir, "fakebin")
	require.NoError(t, os.Mkdir(fakeBin, 0o755))
	log := filepath.Join(dir, "az.log")
	fakeAz := `#!/usr/bin/env bash
printf '%s\n' "$*" >> "$AZ_LOG"
case "$1 $2" in
"functionapp keys") for a in "$@"; do last_name=$prev; prev=$a; [ "$last_name" = --name ] && echo "key-of-$a"; done ;;
"functionapp show") for a in "$@"; do [ "$prev" = --name ] && echo "$a.azurewebsites.net"; prev=$a; done ;;
esac
`
	require.NoError(t, os.WriteFile(filepath.Join(fakeBin, "az"), []byte(fakeAz), 0o755))

	apps := assembleApps(t)
	cmd := exec.Command("bash", "infra/azure/scripts/postdeploy.sh")
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(),
		"PATH="+fakeBin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"AZ_LOG="+log,
		"FUNNEL="+funnel,
		"FUNNEL_APPS="+apps,
		"AZURE_RESOURCE_GROUP=rg-test",
		"AZURE_EVENTGRID_SYSTEM_TOPIC=evgt-test",
		"AZURE_STORAGE_ACCOUNT=sttest",
		"SERVICE_PARTITION_NAME=func-partition-t",
		"SERVICE_AGGREGATE_NAME=func-aggregate-t",
		"SERVICE_MERGE_NAME=func-merge-t",
		"FUNNEL_PREFIX=demo-",
		"FUNNEL_API_URL=https://func-partition-t.azurewebsites.net/api",
	)
	out, err = cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "job API:  https://func-partition-t.azurewebsites.net/api")
	calls := read(t, log)

	// azd itself deploys the zips (a .zip dist); the hook must not
	// deploy a second time.
	assert.NotContains(t, calls, "deployment source")
	settings := localstack.AppSettings()
	settings["FUNNEL_PREFIX"] = "demo-"
	subscriptions := 0
	for _, app := range localstack.Apps() {
		ts, err := funchost.Triggers(filepath.Join(apps, app), settings)
		require.NoError(t, err)
		for _, tr := range ts {
			if tr.Type != "blobTrigger" || tr.Source != "EventGrid" {
				continue
			}
			subscriptions++
			name := "func-" + app + "-t"
			want := fmt.Sprintf("eventgrid system-topic event-subscription create --resource-group rg-test --system-topic-name evgt-test --name %s-%s "+
				"--endpoint-type webhook --endpoint https://%s.azurewebsites.net/runtime/webhooks/blobs?functionName=Host.Functions.%s&code=key-of-%s "+
				"--included-event-types Microsoft.Storage.BlobCreated --subject-begins-with /blobServices/default/containers/%s/ --output none",
				app, strings.ToLower(tr.Function), name, tr.Function, name, tr.Container)
			assert.Contains(t, calls, want)
			assert.True(t, strings.HasPrefix(tr.Container, "demo-"), tr.Container)
		}
	}
	assert.Equal(t, 2, subscriptions, "UnitsBlob and PartialsBlob")
	assert.Equal(t, subscriptions, strings.Count(calls, "event-subscription create"), "one subscription per EventGrid trigger, no more")
}
