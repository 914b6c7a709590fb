package cache

import (
	"context"

	"calipso/tracking"
)

// Source is the system of record behind the cache (the store). It has the method set of
// handlers.Departures.
type Source interface {
	Departure(ctx context.Context, id int64) (tracking.Departure, error)
	Departures(ctx context.Context, f tracking.DepartureFilter) ([]tracking.Departure, error)
	History(ctx context.Context, id int64) ([]tracking.StatusChange, error)
	CreateDeparture(ctx context.Context, f tracking.DepartureFields, by string) (tracking.Departure, error)
	UpdateDeparture(ctx context.Context, id, version int64, f tracking.DepartureFields, by string) (tracking.Departure, error)
	ChangeStatus(ctx context.Context, id, version int64, to tracking.Status, reason, by string) (tracking.Departure, error)
}

// Departures stands in front of a Source for the dispatcher's pages: departures and lists are
// read through the cache; history and writes go straight to the source.
type Departures struct {
	c   *Cache
	src Source
}

// NewDepartures returns src read through c.
func NewDepartures(c *Cache, src Source) *Departures { return &Departures{c: c, src: src} }

// Departure reads one departure through the cache.
func (d *Departures) Departure(ctx context.Context, id int64) (tracking.Departure, error) {
	return d.c.Departure(ctx, id, func(ctx context.Context) (tracking.Departure, error) {
		return d.src.Departure(ctx, id)
	})
}

// Departures reads a list through the cache.
func (d *Departures) Departures(ctx context.Context, f tracking.DepartureFilter) ([]tracking.Departure, error) {
	return d.c.List(ctx, f, func(ctx context.Context) ([]tracking.Departure, error) {
		return d.src.Departures(ctx, f)
	})
}

// History is not cached: only the detail page reads it.
func (d *Departures) History(ctx context.Context, id int64) ([]tracking.StatusChange, error) {
	return d.src.History(ctx, id)
}

// CreateDeparture writes to the source, then drops what it made stale here and now (see
// changed).
func (d *Departures) CreateDeparture(ctx context.Context, f tracking.DepartureFields, by string) (tracking.Departure, error) {
	dep, err := d.src.CreateDeparture(ctx, f, by)
	if err == nil {
		d.changed(ctx, dep)
	}
	return dep, err
}

// UpdateDeparture writes to the source, then drops what it made stale.
func (d *Departures) UpdateDeparture(ctx context.Context, id, version int64, f tracking.DepartureFields, by string) (tracking.Departure, error) {
	dep, err := d.src.UpdateDeparture(ctx, id, version, f, by)
	if err == nil {
		d.changed(ctx, dep)
	}
	return dep, err
}

// ChangeStatus writes to the source, then drops what it made stale.
func (d *Departures) ChangeStatus(ctx context.Context, id, version int64, to tracking.Status, reason, by string) (tracking.Departure, error) {
	dep, err := d.src.ChangeStatus(ctx, id, version, to, reason, by)
	if err == nil {
		d.changed(ctx, dep)
	}
	return dep, err
}

// changed drops the cached reads a write made stale, so that the page the dispatcher is sent
// to next shows the change. The consumer of the change's event does the same a moment later
// (and for every instance); this only closes the gap for the writer. The previous status is
// not known here, so every status list goes. A failure is ignored: the event will do it.
func (d *Departures) changed(ctx context.Context, dep tracking.Departure) {
	if !d.c.available() {
		return
	}
	_ = d.c.Invalidate(context.WithoutCancel(ctx), dep.PublicID(), tracking.Statuses...)
}
