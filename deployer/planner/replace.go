package planner

import (
	"panka.dev/panka/deployer/target/aws/replace"
	"panka.dev/panka/stacks"
)

// DefaultReplaceFields returns the spec fields (relative to spec) whose
// change forces replacement of a component of kind k under the aws mapping.
// The list lives in deployer/target/aws/replace, which has no Pulumi
// dependency, so the planner stays Pulumi-free.
func DefaultReplaceFields(k stacks.Kind) []string { return replace.ReplaceFields(k) }

// replaceReason explains why a change of spec field (relative to spec)
// forces replacement, when the aws mapping says so.
func replaceReason(k stacks.Kind, field string) string {
	_, reason := replace.Forces(k, field)
	return reason
}

// replaceChangeReason explains why a change of spec field (relative to
// spec) between before and after (the deployed and desired specs, as
// normalize gives them) forces replacement under the aws mapping,
// counting the rules that depend on the values; "" when it does not.
func replaceChangeReason(k stacks.Kind, field string, before, after map[string]any) string {
	_, reason := replace.ForcesChange(k, field, before, after)
	return reason
}

// outputFed reports whether a change of the spec field (relative to spec)
// between before and after changes output of a component of kind in
// place under the aws mapping (replace.Feeds).
func outputFed(k stacks.Kind, output, field string, before, after map[string]any) bool {
	return replace.Feeds(k, output, field, before, after)
}

// ForcesReplace reports whether a change at path (a property path as the
// engine reports it: "spec.fifo", "spec.loadBalancer.path") is one of a
// field in fields (relative to spec, as DefaultReplaceFields gives them)
// or inside one.
func ForcesReplace(path string, fields []string) bool { return forcesReplace(path, fields) }

// lossesOf flags the update ch, of a component whose spec goes from
// before to after, as data loss where it deletes a resource holding some
// of the component's data (replace.Losses): deleting it is no less a loss
// than deleting the component, so apply asks for --allow-destroy. Every
// target, as for replacements: the local one stands in for aws.
func lossesOf(ch *Change, before, after map[string]any) {
	for _, l := range replace.Losses(ch.Kind, before, after) {
		path := "spec." + l.Field
		for i := range ch.Fields {
			if fc := &ch.Fields[i]; fc.Reason == "" && forcesReplace(fc.Path, []string{l.Field}) {
				fc.Reason = l.Reason
			}
		}
		ch.DeleteReasons = append(ch.DeleteReasons, path)
		ch.DataLoss = true
	}
}
