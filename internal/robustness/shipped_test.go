package robustness

import (
	"os/exec"
	"strings"
	"testing"
)

// seededBugTags are the build tags that plant a bug for the suite to find.
// Each names files seedbug_<name>.go (the bug) and seedbug_<name>_off.go or
// seedbug_off.go (the shipped behaviour) in the packages it touches.
var seededBugTags = []string{
	"seedbug_nocas", "seedbug_noidempotency", "seedbug_nocacheguard", "seedbug_nowritethrough", "seedbug_nofence",
}

// TestShippedBuildHasNoSeededBug: a build without tags, as `make build`,
// the Dockerfile and `go install` do it, compiles no file that plants a bug,
// and every tag plants one somewhere.
func TestShippedBuildHasNoSeededBug(t *testing.T) {
	files := func(tags string) string {
		t.Helper()
		out, err := exec.Command("go", "list", "-tags", tags, "-deps", "-f", "{{.ImportPath}}: {{.GoFiles}}", "../../cmd/gateway").CombinedOutput()
		if err != nil {
			t.Fatalf("go list -tags %q: %v\n%s", tags, err, out)
		}
		return string(out)
	}
	shipped := files("")
	for _, tag := range seededBugTags {
		bugFile := tag + ".go"
		if strings.Contains(shipped, " "+bugFile) || strings.Contains(shipped, "["+bugFile) {
			t.Errorf("the shipped build compiles %s", bugFile)
		}
		if planted := files(tag); !strings.Contains(planted, bugFile) {
			t.Errorf("go build -tags %s compiles no %s: the tag plants nothing", tag, bugFile)
		}
	}
}
