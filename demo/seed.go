// Package demo seeds a realistic day of departures, so that a newcomer who runs the app sees
// a working depot instead of an empty table.
package demo

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"calipso/tracking"
)

// Store is what seeding needs from the system of record.
type Store interface {
	Departures(ctx context.Context, f tracking.DepartureFilter) ([]tracking.Departure, error)
	CreateDeparture(ctx context.Context, f tracking.DepartureFields, by string) (tracking.Departure, error)
	UpdateDeparture(ctx context.Context, id, version int64, f tracking.DepartureFields, by string) (tracking.Departure, error)
	ChangeStatus(ctx context.Context, id, version int64, to tracking.Status, reason, by string) (tracking.Departure, error)
}

// By is the user name demo changes are recorded under.
const By = "demo"

var (
	destinations = []string{"Moscow", "Saint Petersburg", "Kazan", "Nizhny Novgorod", "Yekaterinburg", "Tver",
		"Rotterdam", "Hamburg", "Warsaw", "Riga", "Helsinki", "Minsk", "Samara", "Rostov-on-Don"}
	carriers = []string{"DHL Freight", "DB Schenker", "Delko", "PEK", "Major Express", "Kuehne+Nagel", "Dellin", "Raben"}
	reasons  = []string{"Driver late", "Waiting for paperwork", "Forklift breakdown", "Customs check", "Traffic on the ring road"}
)

// Seed creates a day of departures around now, in loc, and moves the past ones along as a
// real day would have. It does nothing (and returns 0) when today already has departures.
func Seed(ctx context.Context, st Store, loc *time.Location, now time.Time) (int, error) {
	from, to := tracking.Day(now, loc)
	existing, err := st.Departures(ctx, tracking.DepartureFilter{From: from, To: to, Limit: 1})
	if err != nil || len(existing) > 0 {
		return 0, err
	}
	rng := rand.New(rand.NewPCG(uint64(from.Unix()), 7))
	n := 0
	for slot := from.Add(5 * time.Hour); slot.Before(from.Add(23 * time.Hour)); slot = slot.Add(30 * time.Minute) {
		scheduled := slot.Add(time.Duration(rng.IntN(3)) * 5 * time.Minute)
		f := tracking.DepartureFields{
			PONumber:    fmt.Sprintf("PO-%d", 40000+rng.IntN(60000)),
			Destination: destinations[rng.IntN(len(destinations))],
			Carrier:     carriers[rng.IntN(len(carriers))],
			Vehicle:     fmt.Sprintf("TR-%04d", rng.IntN(10000)),
			Dock:        fmt.Sprintf("D%d", 1+rng.IntN(12)),
			ScheduledAt: scheduled.UTC(),
		}
		d, err := st.CreateDeparture(ctx, f, By)
		if err != nil {
			return n, err
		}
		n++
		if err := advance(ctx, st, d, now, rng); err != nil {
			return n, err
		}
	}
	return n, nil
}

// advance moves a fresh departure to where it would be by now.
func advance(ctx context.Context, st Store, d tracking.Departure, now time.Time, rng *rand.Rand) error {
	until := d.ScheduledAt.Sub(now)
	var path []tracking.Status
	switch {
	case rng.IntN(25) == 0:
		path = []tracking.Status{tracking.StatusCancelled}
	case until < -3*time.Hour:
		path = []tracking.Status{tracking.StatusLoading, tracking.StatusInTransit, tracking.StatusArrived}
	case until < -20*time.Minute:
		path = []tracking.Status{tracking.StatusLoading, tracking.StatusInTransit}
	case until < 30*time.Minute:
		path = []tracking.Status{tracking.StatusLoading}
	case until < 3*time.Hour && rng.IntN(4) == 0:
		late := d.ScheduledAt.Add(time.Duration(10+rng.IntN(50)) * time.Minute)
		f := d.DepartureFields
		f.EstimatedAt = &late
		var err error
		if d, err = st.UpdateDeparture(ctx, d.ID, d.Version, f, By); err != nil {
			return err
		}
		path = []tracking.Status{tracking.StatusDelayed}
	}
	for _, s := range path {
		reason := ""
		if s == tracking.StatusDelayed || s == tracking.StatusCancelled {
			reason = reasons[rng.IntN(len(reasons))]
		}
		next, err := st.ChangeStatus(ctx, d.ID, d.Version, s, reason, By)
		if err != nil {
			return err
		}
		d = next
	}
	return nil
}
