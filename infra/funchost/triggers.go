package funchost

import (
	"sort"
	"strings"
)

// Trigger is one function's trigger as the host resolves it: setting
// expressions (%Setting%) replaced by their values.
type Trigger struct {
	Function string // the function's folder name
	Type     string // "httpTrigger", "queueTrigger", "blobTrigger" or "timerTrigger"
	// Queue is a queue trigger's queue.
	Queue string
	// Container and Path are a blob trigger's container and full path
	// pattern ("container/{name}"); Source is "EventGrid" or
	// "LogsAndContainerScan".
	Container, Path, Source string
	// Route is an HTTP trigger's route template.
	Route string
	// Schedule is a timer trigger's NCRONTAB schedule.
	Schedule string
	Disabled bool
	// OutputQueues are the queues the function's queue output bindings
	// write to (a name with a {binding expression} is given as written).
	OutputQueues []string
}

// Triggers reads the app folder dir (host.json and */function.json) with
// settings (plus the folder's local.settings.json, which settings
// override) and returns each function's trigger, sorted by function
// name. It fails as New would on a configuration the host refuses, e.g.
// a %Setting% that is not set. It starts nothing: it is what deployment
// tools use to learn the triggers from the function.json files (the Event
// Grid subscriptions of EventGrid blob triggers).
func Triggers(dir string, settings map[string]string) ([]Trigger, error) {
	a, err := loadApp(dir, defaultProcessors())
	if err != nil {
		return nil, err
	}
	s, err := loadSettings(a.Dir, settings)
	if err != nil {
		return nil, err
	}
	if err := resolveSettingRefs(a, s); err != nil {
		return nil, err
	}
	var out []Trigger
	for _, f := range a.Functions {
		b := f.Trigger
		if b == nil {
			continue
		}
		t := Trigger{Function: f.Name, Disabled: f.Disabled}
		for _, o := range f.Outputs {
			if o.Type == typeQueue {
				t.OutputQueues = append(t.OutputQueues, o.QueueName)
			}
		}
		switch b.Type {
		case typeQueueTrigger:
			t.Type, t.Queue = "queueTrigger", b.QueueName
		case typeBlobTrigger:
			t.Type, t.Path = "blobTrigger", strings.TrimPrefix(b.Path, "/")
			t.Container, _, _ = strings.Cut(t.Path, "/")
			t.Source = "LogsAndContainerScan"
			if b.Source == "eventgrid" {
				t.Source = "EventGrid"
			}
		case typeTimerTrigger:
			t.Type, t.Schedule = "timerTrigger", b.Schedule
		default:
			t.Type, t.Route = "httpTrigger", b.RouteText
		}
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Function < out[j].Function })
	return out, nil
}
