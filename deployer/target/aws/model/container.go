package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"

	"panka.dev/panka/stacks"
)

// ContainerDef is one entry of an ECS task definition's container
// definitions (the subset panka sets).
type ContainerDef struct {
	Name             string            `json:"name"`
	Image            string            `json:"image"`
	Essential        bool              `json:"essential"`
	Command          []string          `json:"command,omitempty"`
	PortMappings     []PortMapping     `json:"portMappings,omitempty"`
	Environment      []NameValue       `json:"environment"`
	Secrets          []NameValueFrom   `json:"secrets,omitempty"`
	LogConfiguration LogConfiguration  `json:"logConfiguration"`
	HealthCheck      *ContainerHealth  `json:"healthCheck,omitempty"`
	DockerLabels     map[string]string `json:"dockerLabels,omitempty"`
}

type PortMapping struct {
	Name          string `json:"name,omitempty"`
	ContainerPort int    `json:"containerPort"`
	Protocol      string `json:"protocol"`
}

type NameValue struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type NameValueFrom struct {
	Name      string `json:"name"`
	ValueFrom string `json:"valueFrom"`
}

type ContainerHealth struct {
	Command     []string `json:"command"`
	Interval    int      `json:"interval"`
	Timeout     int      `json:"timeout"`
	Retries     int      `json:"retries"`
	StartPeriod int      `json:"startPeriod"`
}

type LogConfiguration struct {
	LogDriver string            `json:"logDriver"`
	Options   map[string]string `json:"options"`
}

// healthCommand gives a check command the form ECS wants: ["CMD", ...]
// or ["CMD-SHELL", "..."]; a bare command runs directly.
func healthCommand(cmd []string) []string {
	if len(cmd) > 0 && (cmd[0] == "CMD" || cmd[0] == "CMD-SHELL") {
		return cmd
	}
	return append([]string{"CMD"}, cmd...)
}

// ContainerInputs are the spec values a workload's container definition
// takes, in the order ContainerDefinition reads them: the image, the
// command words, the env values by sorted name, then the secret
// references by sorted name. Each is a string (maybe with references) or
// stacks.Sensitive.
func (cp *Comp) ContainerInputs() []any {
	w := cp.W
	ins := []any{w.Image}
	ins = append(ins, w.Command...)
	for _, k := range SortedKeys(w.Env) {
		ins = append(ins, w.Env[k])
	}
	for _, k := range SortedKeys(w.Secrets) {
		ins = append(ins, w.Secrets[k])
	}
	return ins
}

// ContainerDefinition is the container definition of workload cp of a
// stack/environment in region, given the values of its ContainerInputs.
func (cp *Comp) ContainerDefinition(stack, env, region string, v []string) ContainerDef {
	w, name := cp.W, cp.C.Name
	cd := ContainerDef{
		Name:        name,
		Image:       v[0],
		Essential:   true,
		Environment: []NameValue{},
		LogConfiguration: LogConfiguration{LogDriver: "awslogs", Options: map[string]string{
			"awslogs-group":         LogGroupName(stack, env, name),
			"awslogs-region":        region,
			"awslogs-stream-prefix": name,
		}},
	}
	v = v[1:]
	if n := len(w.Command); n > 0 {
		cd.Command = v[:n]
	}
	v = v[len(w.Command):]
	for i, k := range SortedKeys(w.Env) {
		cd.Environment = append(cd.Environment, NameValue{Name: k, Value: v[i]})
	}
	v = v[len(w.Env):]
	for i, k := range SortedKeys(w.Secrets) {
		cd.Secrets = append(cd.Secrets, NameValueFrom{Name: k, ValueFrom: v[i]})
	}
	if check := w.ContainerCheck; check != nil {
		cd.HealthCheck = &ContainerHealth{Command: healthCommand(check.Command), Interval: check.Interval,
			Timeout: check.Timeout, Retries: 3, StartPeriod: 60}
	}
	if w.Port > 0 {
		cd.PortMappings = []PortMapping{{Name: "http", ContainerPort: w.Port, Protocol: "tcp"}}
	}
	return cd
}

// maxTaskDefinition is ECS's limit on the size of a task definition
// (RegisterTaskDefinition refuses a larger one: 64 KiB).
const maxTaskDefinition = 64 << 10

// checkTaskDefinitionSize estimates the task definition the target
// registers for workload cp and fails when it is over ECS's 64 KiB: the
// container definition built as the target builds it, with each
// ${component.output} reference counted as the value it will hold where
// panka derives it (a queue's ARN or URL, a bucket's name) and as no more
// than that value where AWS picks part of it (outputFloor), so the
// estimate never refuses a definition that fits, plus the task
// definition's other fields.
// Without it a workload with many large env values passed validate and
// plan and apply failed at RegisterTaskDefinition.
func (p *Program) checkTaskDefinitionSize(d *decoder, cp *Comp) {
	if cp.W == nil {
		return
	}
	ins := cp.ContainerInputs()
	vals := make([]string, len(ins))
	for i, in := range ins {
		vals[i] = p.inputText(in)
	}
	role := func(suffix string) string {
		return "arn:" + Partition(p.R.Provider.Region) + ":iam::123456789012:role/" + cp.N.Role(suffix)
	}
	doc := map[string]any{
		"family":                  cp.N.Family(),
		"networkMode":             "awsvpc",
		"requiresCompatibilities": []string{"FARGATE"},
		"cpu":                     fmt.Sprint(cp.W.CPU),
		"memory":                  fmt.Sprint(cp.W.Memory),
		"executionRoleArn":        role("exec"),
		"taskRoleArn":             role("task"),
		"runtimePlatform":         map[string]string{"operatingSystemFamily": "LINUX", "cpuArchitecture": "X86_64"},
		"containerDefinitions":    []ContainerDef{cp.ContainerDefinition(p.R.Stack, p.R.Environment, p.R.Provider.Region, vals)},
	}
	size := jsonSize(doc)
	if size <= maxTaskDefinition {
		return
	}
	// Name the largest values, which are what to move.
	type entry struct {
		field string
		size  int
	}
	var big []entry
	for k, v := range cp.W.Env {
		big = append(big, entry{"env." + k, len(k) + len(p.inputText(v))})
	}
	for k, v := range cp.W.Secrets {
		big = append(big, entry{"secrets." + k, len(k) + len(p.inputText(v))})
	}
	for i, v := range cp.W.Command {
		big = append(big, entry{fmt.Sprintf("command[%d]", i), len(p.inputText(v))})
	}
	sort.Slice(big, func(i, j int) bool {
		if big[i].size != big[j].size {
			return big[i].size > big[j].size
		}
		return big[i].field < big[j].field
	})
	field, largest := "image", ""
	if len(big) > 0 {
		field = big[0].field
	}
	for i, e := range big[:min(3, len(big))] {
		if i > 0 {
			largest += ", "
		}
		largest += fmt.Sprintf("%s (%d bytes)", e.field, e.size)
	}
	d.fail(field, "the ECS task definition would be at least %d bytes, over ECS's limit of %d (64 KiB), and RegisterTaskDefinition would refuse it in apply; the largest values are %s: "+
		"keep large values out of the task definition, in SSM Parameter Store or Secrets Manager, and list them under spec.secrets (ECS reads them when the task starts) or have the application read them at run time",
		size, maxTaskDefinition, largest)
}

// inputText is the text of a spec value as the estimates count it: its
// literal text unescaped, each reference counted as outputFloor of what
// it names, so that the estimate never exceeds the real size.
func (p *Program) inputText(v any) string {
	if s, ok := clearText(v); ok {
		text, _ := p.withFloors(s)
		return text
	}
	return fmt.Sprint(v)
}

// clearText is the text of a string spec value or the clear text of a
// stacks.Sensitive one; ok is false for any other value.
func clearText(v any) (s string, ok bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case stacks.Sensitive:
		return x.Clear, true
	case *stacks.Sensitive:
		if x != nil {
			return x.Clear, true
		}
		return "", true
	}
	return "", false
}

// withFloors is s unescaped with each reference replaced by
// outputFloor of what it names; known is false when a reference's value
// is not known at all (outputFloor "").
func (p *Program) withFloors(s string) (text string, known bool) {
	known = true
	text, _ = stacks.Interpolate(s, func(r stacks.RefSpan) (string, bool) {
		floor := p.outputFloor(r.Component, r.Output)
		known = known && floor != ""
		return floor, true
	})
	return text, known
}

// jsonSize is the size of v encoded as JSON, without HTML escaping (as
// the AWS API counts it).
func jsonSize(v any) int {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return 0
	}
	return buf.Len() - 1 // the newline Encode adds
}
