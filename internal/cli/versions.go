package cli

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/kplane/kplane/internal/versions"
)

// offeredVersions is the support calendar (the embedded one, or an
// operator's file) narrowed to the minors whose components this kplane has:
// its own and each kplane-k8s-1.NN program beside it. missing says why each
// other minor of the calendar is not offered.
func offeredVersions(ctx context.Context, calendarFile string) (cal versions.Calendar, missing []error, err error) {
	all, err := versions.LoadFile(calendarFile)
	if err != nil {
		return versions.Calendar{}, nil, fmt.Errorf("--versions-file: %w", err)
	}
	exe, err := os.Executable()
	if err != nil {
		return versions.Calendar{}, nil, err
	}
	cal, missing = all.Offered(ctx, exe)
	if len(cal.Versions) == 0 {
		return versions.Calendar{}, missing, fmt.Errorf("no Kubernetes version of the calendar can run: %w", errors.Join(missing...))
	}
	return cal, missing, nil
}
