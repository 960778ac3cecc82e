package localstack

import (
	"maps"

	"github.com/funnelpipe/funnel/job"
	"github.com/funnelpipe/funnel/transport"
)

// App settings the apps' function.json files and handlers read besides the
// storage connection. The trigger bindings name their queues and containers
// as "%FUNNEL_PREFIX%units", "%FUNNEL_PREFIX%partials", ..., so the host
// resolves them from the same setting the handlers build their transports
// from: a host that lacks the setting refuses to start (it does not guess a
// name), and changing it moves triggers and transports together.
const (
	// SettingPrefix starts every queue and container name of the
	// transports (transport.DefaultPrefix unless set).
	SettingPrefix = "FUNNEL_PREFIX"
	// SettingJobsContainer is the container of job records
	// (job.DefaultContainer unless set).
	SettingJobsContainer = "FUNNEL_JOBS_CONTAINER"
)

// AppSettings returns the funnel app settings every launcher sets (Start,
// `funnel package`'s local.settings.json, the Bicep in infra/azure) with
// their default values. A new copy each call.
func AppSettings() map[string]string {
	return map[string]string{
		SettingPrefix:        transport.DefaultPrefix,
		SettingJobsContainer: job.DefaultContainer,
	}
}

// appSettings is what Start gives every app: FUNCTIONS_WORKER_RUNTIME, the
// defaults of AppSettings, then extra (which wins), then the storage
// connection (which wins over extra).
func appSettings(extra map[string]string, conn string) map[string]string {
	s := AppSettings()
	s["FUNCTIONS_WORKER_RUNTIME"] = "custom"
	maps.Copy(s, extra)
	s["AzureWebJobsStorage"] = conn
	return s
}
