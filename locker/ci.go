package locker

import "strings"

// CIURL returns the URL of the CI run described by env (a process
// environment as a map), or "" when no known CI system is detected.
// Supported: GitHub Actions, GitLab CI, Buildkite, CircleCI and Jenkins.
func CIURL(env map[string]string) string {
	switch {
	case env["GITHUB_ACTIONS"] == "true":
		server, repo, run := env["GITHUB_SERVER_URL"], env["GITHUB_REPOSITORY"], env["GITHUB_RUN_ID"]
		if server == "" {
			server = "https://github.com"
		}
		if repo == "" || run == "" {
			return ""
		}
		u := strings.TrimSuffix(server, "/") + "/" + repo + "/actions/runs/" + run
		if a := env["GITHUB_RUN_ATTEMPT"]; a != "" && a != "1" {
			u += "/attempts/" + a
		}
		return u
	case env["GITLAB_CI"] != "":
		if u := env["CI_JOB_URL"]; u != "" {
			return u
		}
		return env["CI_PIPELINE_URL"]
	case env["BUILDKITE"] == "true":
		u := env["BUILDKITE_BUILD_URL"]
		if u != "" && env["BUILDKITE_JOB_ID"] != "" {
			u += "#" + env["BUILDKITE_JOB_ID"]
		}
		return u
	case env["CIRCLECI"] == "true":
		return env["CIRCLE_BUILD_URL"]
	case env["JENKINS_URL"] != "" || env["JENKINS_HOME"] != "":
		return env["BUILD_URL"]
	}
	return ""
}

// EnvMap turns a process environment ("K=V" strings) into a map for CIURL.
func EnvMap(environ []string) map[string]string {
	m := make(map[string]string, len(environ))
	for _, kv := range environ {
		if i := strings.IndexByte(kv, '='); i > 0 {
			m[kv[:i]] = kv[i+1:]
		}
	}
	return m
}
