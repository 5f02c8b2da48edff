package generator

import "fmt"

// Validate checks a template set before use: it must be of kind, and
// render, with Go files that parse, for a range of sample answers.
func Validate(set *Set, kind string) error {
	if set.Meta.Kind != kind {
		return fmt.Errorf("template set is of kind %q, want %q (set \"kind\" in its %s)", set.Meta.Kind, kind, SetFile)
	}
	var samples []any
	switch kind {
	case "service":
		for _, a := range SampleServiceAnswers() {
			samples = append(samples, NewServiceData(a))
		}
	case "plugin":
		for _, a := range SamplePluginAnswers() {
			samples = append(samples, NewPluginData(a))
		}
	default:
		return fmt.Errorf("unknown template set kind %q: want service or plugin", kind)
	}
	for _, d := range samples {
		if _, err := set.Render(d); err != nil {
			return fmt.Errorf("the template set does not render: %w", err)
		}
	}
	return nil
}

// SampleServiceAnswers are answers covering a service set's branches: no
// plugins; every kind in process; every kind out of process.
func SampleServiceAnswers() []Answers {
	base := Answers{Name: "sample-svc", Module: "example.com/sample", ImportPath: "example.com/sample", CoreVersion: DevelVersion, CoreReplace: "../micro", GoVersion: "1.26", Plugins: ModeInProcess}
	inproc := base
	inproc.Components = []Component{
		{Kind: "registry", Name: "redis", Package: CoreModule + "/plugins/registry/redis", Address: "redis://127.0.0.1:6379/0"},
		{Kind: "broker", Name: "nats", Package: CoreModule + "/plugins/broker/nats", Address: "nats://127.0.0.1:4222"},
		{Kind: "store", Name: "redis", Package: CoreModule + "/plugins/store/redis"},
	}
	process := base
	process.Plugins = ModeProcess
	process.Components = []Component{{Kind: "registry", Name: "redis"}, {Kind: "broker", Name: "rabbitmq"}, {Kind: "store", Name: "nats"}}
	return []Answers{base, inproc, process}
}
