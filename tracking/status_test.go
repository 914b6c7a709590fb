package tracking

import (
	"strings"
	"testing"
)

func TestTransitionTableAllowsTheUsualLife(t *testing.T) {
	path := []Status{StatusPending, StatusLoading, StatusInTransit, StatusArrived}
	for i := 1; i < len(path); i++ {
		if err := CheckTransition(path[i-1], path[i]); err != nil {
			t.Fatalf("%s → %s: %v", path[i-1], path[i], err)
		}
	}
}

func TestFinalStatusesAllowNothing(t *testing.T) {
	for _, from := range []Status{StatusArrived, StatusCancelled} {
		if !from.Final() {
			t.Errorf("%s should be final", from)
		}
		for _, to := range Statuses {
			err := CheckTransition(from, to)
			if ErrorCode(err) != EINVALID {
				t.Errorf("%s → %s: got %v, want EINVALID", from, to, err)
			}
		}
	}
}

func TestEveryStatusHasARowInTheTable(t *testing.T) {
	for _, s := range Statuses {
		if !s.Valid() {
			t.Errorf("%s is missing from the transition table", s)
		}
		for _, n := range s.Next() {
			if !n.Valid() {
				t.Errorf("%s → %s names an unknown status", s, n)
			}
		}
	}
}

func TestForbiddenTransitionNamesTheAllowedOnes(t *testing.T) {
	err := CheckTransition(StatusPending, StatusArrived)
	if ErrorCode(err) != EINVALID {
		t.Fatalf("got %v, want EINVALID", err)
	}
	msg := ErrorFields(err)["status"]
	for _, want := range []string{"Loading", "Delayed", "Cancelled"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not name %s", msg, want)
		}
	}
}

func TestSameStatusIsNotATransition(t *testing.T) {
	if err := CheckTransition(StatusLoading, StatusLoading); ErrorCode(err) != EINVALID {
		t.Fatalf("got %v, want EINVALID", err)
	}
}

func TestUnknownStatusIsInvalid(t *testing.T) {
	if _, err := ParseStatus("Teleported"); ErrorCode(err) != EINVALID {
		t.Fatalf("got %v", err)
	}
	if err := CheckTransition(StatusPending, Status("Teleported")); ErrorCode(err) != EINVALID {
		t.Fatalf("got %v", err)
	}
}

func TestParseStatusAcceptsWireFormAndSlug(t *testing.T) {
	for in, want := range map[string]Status{"In Transit": StatusInTransit, "in_transit": StatusInTransit, "Pending": StatusPending} {
		got, err := ParseStatus(in)
		if err != nil || got != want {
			t.Errorf("ParseStatus(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestSlugIsLowerUnderscore(t *testing.T) {
	if got := StatusInTransit.Slug(); got != "in_transit" {
		t.Fatalf("got %q", got)
	}
}

// Found by FuzzTransitions: a slug passed as the target used to be accepted from any status,
// final ones included.
func TestASlugIsNotAStatusForCheckTransition(t *testing.T) {
	for _, from := range Statuses {
		if err := CheckTransition(from, Status(StatusCancelled.Slug())); ErrorCode(err) != EINVALID {
			t.Errorf("%s → %q: %v, want EINVALID", from, StatusCancelled.Slug(), err)
		}
	}
}
