package demo

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"calipso/tracking"
)

// SimulateEvery is how often the simulator moves a departure: often enough that a newcomer
// sees the board change while looking at it.
const SimulateEvery = 4 * time.Second

// Simulate moves today's departures through their statuses, one every interval, until ctx
// ends: the ones due soonest first, as a depot would. Changes go through the store, so they
// reach the boards like a dispatcher's. When nothing is left to move it schedules a new
// departure. It stops only with ctx; a failed step is logged and skipped.
func Simulate(ctx context.Context, st Store, loc *time.Location, every time.Duration, log *slog.Logger) {
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 11))
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if err := Step(ctx, st, loc, time.Now(), rng); err != nil && ctx.Err() == nil {
			log.Warn("demo: simulation step failed", "err", err)
		}
	}
}

// Step makes one change: it moves one of the departures nearest now to a next status, or
// creates one when none can move.
func Step(ctx context.Context, st Store, loc *time.Location, now time.Time, rng *rand.Rand) error {
	from, to := tracking.Day(now, loc)
	all, err := st.Departures(ctx, tracking.DepartureFilter{From: from.Add(-12 * time.Hour), To: to})
	if err != nil {
		return err
	}
	var movable []tracking.Departure
	for _, d := range all {
		if !d.Status.Final() && d.ExpectedAt().Before(now.Add(2*time.Hour)) {
			movable = append(movable, d)
		}
	}
	if len(movable) == 0 {
		return create(ctx, st, now.Add(time.Duration(30+rng.IntN(90))*time.Minute), rng)
	}
	// Mostly the most urgent few, sometimes any.
	d := movable[rng.IntN(min(len(movable), 4))]
	if rng.IntN(5) == 0 {
		d = movable[rng.IntN(len(movable))]
	}
	to2, reason := nextStatus(d, rng)
	if to2 == tracking.StatusDelayed {
		late := d.ExpectedAt().Add(time.Duration(10+rng.IntN(35)) * time.Minute)
		f := d.DepartureFields
		f.EstimatedAt = &late
		if d, err = st.UpdateDeparture(ctx, d.ID, d.Version, f, By); err != nil {
			return ignoreConflict(err)
		}
	}
	_, err = st.ChangeStatus(ctx, d.ID, d.Version, to2, reason, By)
	return ignoreConflict(err)
}

// nextStatus picks where a departure goes next, with a depot's odds: mostly forward, now and
// then a delay, rarely a cancellation.
func nextStatus(d tracking.Departure, rng *rand.Rand) (tracking.Status, string) {
	roll := rng.IntN(20)
	switch d.Status {
	case tracking.StatusPending:
		switch {
		case roll == 0:
			return tracking.StatusCancelled, reasons[rng.IntN(len(reasons))]
		case roll < 4:
			return tracking.StatusDelayed, reasons[rng.IntN(len(reasons))]
		}
		return tracking.StatusLoading, ""
	case tracking.StatusLoading:
		if roll < 3 {
			return tracking.StatusDelayed, reasons[rng.IntN(len(reasons))]
		}
		return tracking.StatusInTransit, ""
	case tracking.StatusDelayed:
		if roll < 10 {
			return tracking.StatusLoading, ""
		}
		return tracking.StatusInTransit, ""
	}
	return tracking.StatusArrived, "" // In Transit
}

func create(ctx context.Context, st Store, at time.Time, rng *rand.Rand) error {
	_, err := st.CreateDeparture(ctx, tracking.DepartureFields{
		PONumber:    fmt.Sprintf("PO-%d", 40000+rng.IntN(60000)),
		Destination: destinations[rng.IntN(len(destinations))],
		Carrier:     carriers[rng.IntN(len(carriers))],
		Vehicle:     fmt.Sprintf("TR-%04d", rng.IntN(10000)),
		Dock:        fmt.Sprintf("D%d", 1+rng.IntN(12)),
		ScheduledAt: at.Truncate(5 * time.Minute).UTC(),
	}, By)
	return err
}

// ignoreConflict: a dispatcher changed the departure meanwhile; the next step moves another.
func ignoreConflict(err error) error {
	if tracking.ErrorCode(err) == tracking.ECONFLICT {
		return nil
	}
	return err
}
