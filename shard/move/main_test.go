package move

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"

	"go.uber.org/zap"
)

// TestMain doubles as the mover process of the crash tests: with
// MOVE_TEST_MOVER set, the test binary runs one move (MOVE_TEST_MOVE) of
// the cluster at MOVE_TEST_CATALOG and exits; MOVE_TEST_KILL_AT makes
// it kill itself with SIGKILL at a step.
func TestMain(m *testing.M) {
	if os.Getenv("MOVE_TEST_MOVER") != "" {
		os.Exit(runMoverProcess())
	}
	os.Exit(m.Run())
}

func runMoverProcess() int {
	ctx := context.Background()
	id, err := strconv.ParseInt(os.Getenv("MOVE_TEST_MOVE"), 10, 64)
	if err != nil {
		fmt.Fprintln(os.Stderr, "MOVE_TEST_MOVE:", err)
		return 2
	}
	c, err := Open(ctx, os.Getenv("MOVE_TEST_CATALOG"), zap.NewNop())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer c.Close()
	mv := NewMover(c, testLimits(), zap.NewNop(), nil)
	mv.killAt = State(os.Getenv("MOVE_TEST_KILL_AT"))
	if err := mv.RunMove(ctx, id); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}
