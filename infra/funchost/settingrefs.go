package funchost

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/funnelpipe/funnel/transport"
)

var settingRefRe = regexp.MustCompile(`%([^%]+)%`)

// expandSettingRefs replaces every %Name% in s with app setting Name, as
// the host's name resolver does. missing is the first name that is not
// set ("" when all are).
func expandSettingRefs(s string, settings map[string]string) (out, missing string) {
	if !strings.Contains(s, "%") {
		return s, ""
	}
	out = settingRefRe.ReplaceAllStringFunc(s, func(m string) string {
		name := m[1 : len(m)-1]
		val, ok := lookupSetting(settings, name)
		if !ok && missing == "" {
			missing = name
		}
		return val
	})
	return out, missing
}

// lookupSetting finds an app setting by name, ignoring case as the host's
// configuration does (an exact match wins).
func lookupSetting(settings map[string]string, name string) (string, bool) {
	if v, ok := settings[name]; ok {
		return v, true
	}
	for k, v := range settings {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return "", false
}

// resolveSettingRefs resolves %Setting% in the bindings of a that take
// them (queue names, blob paths) and checks the result as parseBinding
// checks a literal value.
func resolveSettingRefs(a *app, settings map[string]string) error {
	for _, f := range a.Functions {
		for _, b := range f.Bindings {
			if err := resolveBindingSettings(f, b, settings); err != nil {
				return err
			}
		}
	}
	return nil
}

// resolveBindingSettings resolves the settings of one binding that may
// hold %Setting%; a binding type that takes none is left alone.
func resolveBindingSettings(f *function, b *binding, settings map[string]string) error {
	resolve := func(field string, target *string) (bool, error) {
		if !strings.Contains(*target, "%") {
			return false, nil
		}
		if strings.Count(*target, "%")%2 != 0 {
			// The host's ResolveWholeString refuses an unpaired '%'.
			return false, cfgErr(f.File, fmt.Sprintf("bindings[%d].%s", b.Index, field), "%q has a '%%' without its closing '%%'", *target)
		}
		v, missing := expandSettingRefs(*target, settings)
		if missing != "" {
			return false, cfgErr(f.File, fmt.Sprintf("bindings[%d].%s", b.Index, field), "app setting %q (from %%%s%%) is not set", missing, missing)
		}
		*target = v
		return true, nil
	}
	switch b.Type {
	case typeQueueTrigger, typeQueue:
		changed, err := resolve("queueName", &b.QueueName)
		if err != nil || !changed || strings.Contains(b.QueueName, "{") {
			return err
		}
		if err := transport.ValidateStorageName(b.QueueName); err != nil {
			return cfgErr(f.File, fmt.Sprintf("bindings[%d].queueName", b.Index), "invalid queue name: %v", err)
		}
	case typeTimerTrigger:
		changed, err := resolve("schedule", &b.Schedule)
		if err != nil || !changed {
			return err
		}
		sched, err := parseSchedule(b.Schedule)
		if err != nil {
			return cfgErr(f.File, fmt.Sprintf("bindings[%d].schedule", b.Index), "%v", err)
		}
		b.schedule = sched
	case typeBlobTrigger, typeBlob:
		changed, err := resolve("path", &b.Path)
		if err != nil || !changed {
			return err
		}
		bp, err := parseBlobPattern(b.Path)
		if err != nil {
			return cfgErr(f.File, fmt.Sprintf("bindings[%d].path", b.Index), "%v", err)
		}
		if b.Type == typeBlobTrigger && !bp.triggerable() {
			return cfgErr(f.File, fmt.Sprintf("bindings[%d].path", b.Index), "%q is not a valid blobTrigger path", b.Path)
		}
		b.blobPath = bp
	}
	return nil
}
