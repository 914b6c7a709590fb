package tracking

import (
	"time"
)

// Message types, named as MassTransit names them: the exchange of a type is
// MessageNamespace + ":" + the type name, and its URN is "urn:message:" + that.
const (
	MessageNamespace       = "Calipso.Tracking.Messages"
	MessageStatusUpdated   = "DepartureStatusUpdated"
	MessageDepartureUpdate = "DepartureUpdated"
)

// MessageTypes lists every event type Calipso publishes.
var MessageTypes = []string{MessageStatusUpdated, MessageDepartureUpdate}

// DepartureSnapshot is the whole state of a departure after a change. Events carry it so that
// a consumer can update a board without reading the database. MassTransit consumers ignore it.
type DepartureSnapshot struct {
	PONumber            string     `json:"poNumber"`
	Destination         string     `json:"destination"`
	Carrier             string     `json:"carrier"`
	Vehicle             string     `json:"vehicle"`
	Dock                string     `json:"dock"`
	ScheduledAt         time.Time  `json:"scheduledAt"`
	EstimatedAt         *time.Time `json:"estimatedAt"`
	ActualDepartureTime *time.Time `json:"actualDepartureTime"`
	Status              Status     `json:"status"`
	Notes               string     `json:"notes"`
	UpdatedAt           time.Time  `json:"updatedAt"`
	UpdatedBy           string     `json:"updatedBy"`
}

// DepartureStatusUpdated is published when a departure's status changes. Its first fields are
// those of the original .NET contract; the rest are extra fields MassTransit ignores.
type DepartureStatusUpdated struct {
	DepartureID         string             `json:"departureId"`
	NewStatus           Status             `json:"newStatus"`
	PreviousStatus      Status             `json:"previousStatus"`
	Timestamp           time.Time          `json:"timestamp"`
	ActualDepartureTime *time.Time         `json:"actualDepartureTime"`
	Version             int64              `json:"version"`
	Reason              string             `json:"reason,omitempty"`
	UpdatedBy           string             `json:"updatedBy,omitempty"`
	Departure           *DepartureSnapshot `json:"departure,omitempty"`
}

// DepartureUpdated is published when a departure is created or edited without a status change,
// so that boards learn about it too.
type DepartureUpdated struct {
	DepartureID string             `json:"departureId"`
	Status      Status             `json:"status"`
	Timestamp   time.Time          `json:"timestamp"`
	Version     int64              `json:"version"`
	Created     bool               `json:"created,omitempty"`
	UpdatedBy   string             `json:"updatedBy,omitempty"`
	Departure   *DepartureSnapshot `json:"departure,omitempty"`
}

// Snapshot returns d as events carry it, with times in UTC.
func (d Departure) Snapshot() *DepartureSnapshot {
	return &DepartureSnapshot{
		PONumber:            d.PONumber,
		Destination:         d.Destination,
		Carrier:             d.Carrier,
		Vehicle:             d.Vehicle,
		Dock:                d.Dock,
		ScheduledAt:         d.ScheduledAt.UTC(),
		EstimatedAt:         utcPtr(d.EstimatedAt),
		ActualDepartureTime: utcPtr(d.ActualDepartureAt),
		Status:              d.Status,
		Notes:               d.Notes,
		UpdatedAt:           d.UpdatedAt.UTC(),
		UpdatedBy:           d.UpdatedBy,
	}
}

// Departure rebuilds a departure from an event's snapshot (for consumers that render it).
func (s DepartureSnapshot) Departure(publicID string, version int64) (Departure, error) {
	id, err := ParseID(publicID)
	if err != nil {
		return Departure{}, err
	}
	return Departure{
		ID: id,
		DepartureFields: DepartureFields{
			PONumber: s.PONumber, Destination: s.Destination, Carrier: s.Carrier, Vehicle: s.Vehicle,
			Dock: s.Dock, ScheduledAt: s.ScheduledAt, EstimatedAt: s.EstimatedAt, Notes: s.Notes,
		},
		Status:            s.Status,
		ActualDepartureAt: s.ActualDepartureTime,
		Version:           version,
		UpdatedAt:         s.UpdatedAt,
		UpdatedBy:         s.UpdatedBy,
	}, nil
}

// NewStatusUpdated is the event of a status change from prev to d.Status.
func NewStatusUpdated(d Departure, prev Status, reason string) DepartureStatusUpdated {
	return DepartureStatusUpdated{
		DepartureID:         d.PublicID(),
		NewStatus:           d.Status,
		PreviousStatus:      prev,
		Timestamp:           d.UpdatedAt.UTC(),
		ActualDepartureTime: utcPtr(d.ActualDepartureAt),
		Version:             d.Version,
		Reason:              reason,
		UpdatedBy:           d.UpdatedBy,
		Departure:           d.Snapshot(),
	}
}

// NewDepartureUpdated is the event of a creation or an edit.
func NewDepartureUpdated(d Departure, created bool) DepartureUpdated {
	return DepartureUpdated{
		DepartureID: d.PublicID(),
		Status:      d.Status,
		Timestamp:   d.UpdatedAt.UTC(),
		Version:     d.Version,
		Created:     created,
		UpdatedBy:   d.UpdatedBy,
		Departure:   d.Snapshot(),
	}
}

// StatusChange is one row of a departure's history.
type StatusChange struct {
	DepartureID int64
	From        Status // "" for the creation
	To          Status
	Reason      string
	By          string
	At          time.Time
	Version     int64
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
