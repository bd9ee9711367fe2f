package cli

import (
	"errors"
	"fmt"
	"path"
	"strings"

	awsmodel "panka.dev/panka/deployer/target/aws/model"
	"panka.dev/panka/stacks"
)

// checkTarget runs the deployment target's own checks on a resolved model,
// as the engine runs them first thing in apply: the aws target refuses
// models the stacks package accepts (a load-balanced MicroService without
// spec.provider.network.listenerArn, a Database without vpcId or with one
// private subnet, a variable set in both env and secrets, ...). Plan, apply, promote and rollback call it when
// they resolve the desired model, so such a stack fails the plan with the
// error apply would give, instead of planning cleanly and failing inside
// the engine after the lock was taken and a failed deployment recorded.
// It needs no engine, AWS credentials or provider plugin (awsmodel is
// Pulumi-free). st is the stack m was resolved from, for the line of a
// component's field; stackDir is its folder, for the provider hint; at is
// planAt (" at REF" for a commit).
func checkTarget(m *stacks.Resolved, st *stacks.Stack, stackDir, at string) error {
	if m == nil || m.Provider.Name != "aws" {
		return nil
	}
	err := awsmodel.Validate(m)
	if err == nil {
		return nil
	}
	return targetError(m, st, stackDir, at, err)
}

// targetPos is where to fix a target problem of a component: the file
// and the line and column of its field (st.SpecPos: in the environment's
// spec.overrides when it sets the field, else the component's file), or
// of its name for one of the component as a whole. ok is false for a
// problem of the stack/environment or of a model without files.
func targetPos(st *stacks.Stack, env string, me *awsmodel.Error) (file string, line, col int, ok bool) {
	if st == nil || me.Component == "" || me.File == "" {
		return "", 0, 0, false
	}
	file, line, col, ok = st.SpecPos(env, me.Component, me.Field)
	return file, line, col, ok && file != ""
}

// targetProblems are checkTarget's problems for validate, each with the
// file to edit (the component's, else stack.yaml for provider settings)
// and, for a component's, the line of the field (st.SpecPos: in the
// environment's spec.overrides when it sets the field).
// Without a value for every variable (validate needs none: secrets and
// required variables stay symbolic) the target cannot judge the model, so
// it is checked only when every variable has a value (--var, --var-file,
// PANKA_VAR_*, the environment file or a default); plan and apply check
// it always. The program is returned when the model is valid (nil
// otherwise), for the checks across deployments (awsCollisions).
// unsetVariables lists m's variables that have no value.
func unsetVariables(m *stacks.Resolved) []string {
	var out []string
	for _, v := range m.Variables {
		if v.Source == stacks.SourceUnset {
			out = append(out, v.Name)
		}
	}
	return out
}

func targetProblems(m *stacks.Resolved, st *stacks.Stack, stack, env string) ([]Problem, *awsmodel.Program) {
	if m.Provider.Name != "aws" {
		return nil, nil
	}
	if len(unsetVariables(m)) > 0 {
		return nil, nil
	}
	prog, err := awsmodel.New(m)
	if err == nil {
		return nil, prog
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	var out []Problem
	for _, e := range errs {
		p := Problem{File: st.File(), Message: e.Error(), Stack: stack, Environment: env}
		var me *awsmodel.Error
		if errors.As(e, &me) && me.File != "" {
			p.File, p.Message = me.File, me.Msg
			if file, line, col, ok := targetPos(st, env, me); ok {
				p.File, p.Line, p.Column = file, line, col
			}
		}
		// Stack and environment are the problem's own fields: without
		// them in the text, one cause in stack.yaml is reported once for
		// every environment it breaks.
		where := fmt.Sprintf("stack %q environment %q", m.Stack, m.Environment)
		if rest, ok := strings.CutPrefix(p.Message, where+": "); ok {
			p.Message = rest
		} else if rest, ok := strings.CutPrefix(p.Message, where+" "); ok {
			p.Message = rest
		}
		p.Message = "aws target: " + p.Message
		out = append(out, p)
	}
	return out, nil
}

func targetError(m *stacks.Resolved, st *stacks.Stack, stackDir, at string, err error) error {
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "the aws target cannot deploy %s/%s%s as resolved (apply would stop at the same check, before deploying anything):", m.Stack, m.Environment, at)
	for _, e := range errs {
		b.WriteString("\n  ")
		var me *awsmodel.Error
		if errors.As(e, &me) {
			if file, line, col, ok := targetPos(st, m.Environment, me); ok {
				b.WriteString((&stacks.Error{File: file, Line: line, Column: col, Msg: me.Msg}).Error())
				continue
			}
		}
		b.WriteString(e.Error())
	}
	fmt.Fprintf(&b, "\nfix the fields named above (provider settings: spec.provider in %s, or in %s for this environment only) and run the command again",
		path.Join(stackDir, "stack.yaml"), path.Join(stackDir, stacks.EnvironmentsDir, m.Environment+".yaml"))
	return errors.New(b.String())
}
