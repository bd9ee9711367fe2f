package changes_test

import (
	"context"
	"os"
	"testing"

	"panka.dev/panka/gitops"
	"panka.dev/panka/gitops/changes"
)

func TestQAProf(t *testing.T) {
	dir := os.Getenv("QA_REPO")
	if dir == "" {
		t.Skip()
	}
	r, err := gitops.Open(dir, gitops.Options{NoGitBinary: os.Getenv("QA_GOGIT") != ""})
	if err != nil {
		t.Fatal(err)
	}
	res, err := changes.Detect(context.Background(), r, changes.Options{Base: os.Getenv("QA_BASE"), Head: os.Getenv("QA_HEAD"), StacksRoot: "stacks", NoCache: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(len(res.Stacks))
}
