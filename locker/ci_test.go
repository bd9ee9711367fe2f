package locker

import "testing"

func TestCIURL(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"none", map[string]string{"HOME": "/root"}, ""},
		{"github", map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "acme/infra", "GITHUB_RUN_ID": "42"},
			"https://github.com/acme/infra/actions/runs/42"},
		{"github retry attempt", map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_SERVER_URL": "https://ghe.acme.dev/", "GITHUB_REPOSITORY": "acme/infra", "GITHUB_RUN_ID": "42", "GITHUB_RUN_ATTEMPT": "2"},
			"https://ghe.acme.dev/acme/infra/actions/runs/42/attempts/2"},
		{"github without run id", map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "acme/infra"}, ""},
		{"gitlab job", map[string]string{"GITLAB_CI": "true", "CI_JOB_URL": "https://gitlab.com/acme/infra/-/jobs/7", "CI_PIPELINE_URL": "https://gitlab.com/acme/infra/-/pipelines/3"},
			"https://gitlab.com/acme/infra/-/jobs/7"},
		{"gitlab pipeline", map[string]string{"GITLAB_CI": "true", "CI_PIPELINE_URL": "https://gitlab.com/acme/infra/-/pipelines/3"},
			"https://gitlab.com/acme/infra/-/pipelines/3"},
		{"buildkite", map[string]string{"BUILDKITE": "true", "BUILDKITE_BUILD_URL": "https://buildkite.com/acme/infra/builds/9", "BUILDKITE_JOB_ID": "abc"},
			"https://buildkite.com/acme/infra/builds/9#abc"},
		{"circleci", map[string]string{"CIRCLECI": "true", "CIRCLE_BUILD_URL": "https://circleci.com/gh/acme/infra/5"}, "https://circleci.com/gh/acme/infra/5"},
		{"jenkins", map[string]string{"JENKINS_URL": "https://jenkins.acme.dev/", "BUILD_URL": "https://jenkins.acme.dev/job/infra/12/"},
			"https://jenkins.acme.dev/job/infra/12/"},
		{"generic CI only", map[string]string{"CI": "true"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := CIURL(tc.env); got != tc.want {
				t.Fatalf("CIURL = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestEnvMap(t *testing.T) {
	m := EnvMap([]string{"A=1", "B=x=y", "=bad", "C="})
	if m["A"] != "1" || m["B"] != "x=y" || len(m) != 3 {
		t.Fatalf("EnvMap = %v", m)
	}
}

func TestParseKey(t *testing.T) {
	tests := []struct {
		key, stack, env string
		ok              bool
	}{
		{Key("app", "prod"), "app", "prod", true},
		{Key("my-app", "eu-west"), "my-app", "eu-west", true},
		{"stack:app:env:", "", "", false},
		{"stack::env:prod", "", "", false},
		{"app/prod", "", "", false},
	}
	for _, tc := range tests {
		s, e, ok := ParseKey(tc.key)
		if s != tc.stack || e != tc.env || ok != tc.ok {
			t.Errorf("ParseKey(%q) = %q, %q, %v; want %q, %q, %v", tc.key, s, e, ok, tc.stack, tc.env, tc.ok)
		}
	}
}
