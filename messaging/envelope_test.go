package messaging

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"calipso/store"
	"calipso/tracking"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestDecodeReadsAMassTransitEnvelopeFromDotNet(t *testing.T) {
	d := amqp.Delivery{
		ContentType: "application/vnd.masstransit+json",
		MessageId:   "6c600000-5d6f-0015-0b2a-08dc4d1e5f3a",
		Exchange:    "Calipso.Tracking.Messages:DepartureStatusUpdated",
		Body:        readFixture(t, "masstransit_status_updated.json"),
	}
	ev, err := Decode(&d)
	if err != nil {
		t.Fatal(err)
	}
	want := Event{
		MessageID:      "6c600000-5d6f-0015-0b2a-08dc4d1e5f3a",
		Type:           tracking.MessageStatusUpdated,
		DepartureID:    "DEP-000042",
		Version:        0, // the .NET contract has no version
		Status:         tracking.StatusInTransit,
		PreviousStatus: tracking.StatusLoading,
		SentTime:       mustTime(t, "2026-03-01T08:15:30.2345678Z"),
	}
	if ev.Departure != nil {
		t.Errorf("Departure = %+v, want nil: the envelope has no snapshot", ev.Departure)
	}
	ev.Departure = nil
	if ev != want {
		t.Fatalf("decoded\n %+v\nwant\n %+v", ev, want)
	}
}

func TestDecodeReadsRawJSONWithItsSnapshot(t *testing.T) {
	d := amqp.Delivery{
		ContentType: "application/json; charset=utf-8",
		MessageId:   "raw-1",
		Timestamp:   time.Date(2026, 3, 1, 9, 0, 1, 0, time.UTC),
		Exchange:    "Calipso.Tracking.Messages:DepartureUpdated",
		Body:        readFixture(t, "raw_departure_updated.json"),
	}
	ev, err := Decode(&d)
	if err != nil {
		t.Fatal(err)
	}
	if ev.MessageID != "raw-1" || ev.Type != tracking.MessageDepartureUpdate || ev.DepartureID != "DEP-000007" ||
		ev.Version != 4 || ev.Status != tracking.StatusDelayed || ev.PreviousStatus != "" || !ev.SentTime.Equal(d.Timestamp) {
		t.Fatalf("decoded %+v", ev)
	}
	dep := ev.Departure
	if dep == nil || dep.ID != 7 || dep.Version != 4 || dep.Dock != "D3" || dep.Status != tracking.StatusDelayed ||
		dep.EstimatedAt == nil || !dep.EstimatedAt.Equal(mustTime(t, "2026-03-01T10:45:00Z")) || dep.UpdatedBy != "carol" {
		t.Fatalf("departure %+v", dep)
	}
}

func TestDecodeTellsTheTypeOfRawJSONWithoutAnExchange(t *testing.T) {
	// As it comes back from a delay queue: through the default exchange, with no type.
	body, _ := json.Marshal(tracking.DepartureStatusUpdated{
		DepartureID: "DEP-000001", NewStatus: tracking.StatusLoading, PreviousStatus: tracking.StatusPending, Version: 2,
	})
	ev, err := Decode(&amqp.Delivery{ContentType: ContentTypeJSON, Body: body})
	if err != nil {
		t.Fatal(err)
	}
	if ev.Type != tracking.MessageStatusUpdated || ev.Status != tracking.StatusLoading {
		t.Fatalf("decoded %+v", ev)
	}
}

func TestDecodeRejectsWhatItCannotRead(t *testing.T) {
	good := readFixture(t, "masstransit_status_updated.json")
	for name, d := range map[string]amqp.Delivery{
		"not json":             {ContentType: ContentTypeMassTransit, Body: []byte("{nope")},
		"xml":                  {ContentType: "application/xml", Body: []byte("<a/>")},
		"unknown message type": {ContentType: ContentTypeMassTransit, Body: bytes.Replace(good, []byte(":DepartureStatusUpdated\"\n"), []byte(":Something\"\n"), 1)},
		"no message":           {ContentType: ContentTypeMassTransit, Body: []byte(`{"messageType":["urn:message:Calipso.Tracking.Messages:DepartureUpdated"]}`)},
		"bad departure id":     {ContentType: ContentTypeJSON, Type: "DepartureUpdated", Body: []byte(`{"departureId":"42","status":"Pending"}`)},
		"bad status":           {ContentType: ContentTypeJSON, Type: "DepartureUpdated", Body: []byte(`{"departureId":"DEP-000042","status":"Gone"}`)},
		"bad previous status":  {ContentType: ContentTypeJSON, Type: "DepartureStatusUpdated", Body: []byte(`{"departureId":"DEP-000042","newStatus":"Loading","previousStatus":"x"}`)},
		"negative version":     {ContentType: ContentTypeJSON, Type: "DepartureUpdated", Body: []byte(`{"departureId":"DEP-000042","status":"Pending","version":-1}`)},
		"huge body": {ContentType: ContentTypeJSON, Type: "DepartureUpdated",
			Body: []byte(`{"departureId":"DEP-000042","status":"Pending","pad":"` + strings.Repeat("x", MaxBody) + `"}`)},
		"invalid UTF-8": {ContentType: ContentTypeJSON, Type: "DepartureUpdated", Body: []byte("{\"departureId\":\"DEP-000042\",\"status\":\"Pending\",\"x\":\"\xff\"}")},
		"snapshot destination too long": {ContentType: ContentTypeJSON, Type: "DepartureUpdated", Body: []byte(`{"departureId":"DEP-000042","status":"Pending",` +
			`"departure":{"poNumber":"PO-1","destination":"` + strings.Repeat("R", 5000) + `","carrier":"C","dock":"D1","scheduledAt":"2026-03-01T08:00:00Z","status":"Pending"}}`)},
		"snapshot with a control character": {ContentType: ContentTypeJSON, Type: "DepartureUpdated", Body: []byte(`{"departureId":"DEP-000042","status":"Pending",` +
			`"departure":{"poNumber":"PO-1","destination":"Riga\u0007","carrier":"C","dock":"D1","scheduledAt":"2026-03-01T08:00:00Z","status":"Pending"}}`)},
		"snapshot status not the event's": {ContentType: ContentTypeJSON, Type: "DepartureUpdated", Body: []byte(`{"departureId":"DEP-000042","status":"Pending",` +
			`"departure":{"poNumber":"PO-1","destination":"Riga","carrier":"C","dock":"D1","scheduledAt":"2026-03-01T08:00:00Z","status":"Arrived"}}`)},
	} {
		_, err := Decode(&d)
		var de *DecodeError
		if !errors.As(err, &de) {
			t.Errorf("%s: err = %v, want a *DecodeError", name, err)
		}
	}
}

// goldenMessage is an outbox row as the store writes it for a fixed departure.
func goldenMessage(t *testing.T) store.OutboxMessage {
	t.Helper()
	at := time.Date(2026, 3, 1, 8, 15, 30, 123456000, time.UTC)
	est := at.Add(20 * time.Minute)
	dep := tracking.Departure{
		ID: 42,
		DepartureFields: tracking.DepartureFields{
			PONumber: "PO-4711", Destination: "Rotterdam", Carrier: "Maersk", Vehicle: "TR-12", Dock: "D4",
			ScheduledAt: at.Add(-15 * time.Minute), EstimatedAt: &est, Notes: "fragile",
		},
		Status: tracking.StatusInTransit, ActualDepartureAt: &at, Version: 5,
		CreatedAt: at.Add(-time.Hour), UpdatedAt: at, UpdatedBy: "dispatch.one",
	}
	body, err := json.Marshal(tracking.NewStatusUpdated(dep, tracking.StatusLoading, "dock ready"))
	if err != nil {
		t.Fatal(err)
	}
	return store.OutboxMessage{
		ID: 7, MessageID: "0f8fad5b-d9cb-469f-a165-70867728950e", MessageType: tracking.MessageStatusUpdated,
		DepartureID: dep.PublicID(), Version: dep.Version, Body: body, CreatedAt: at,
	}
}

func goldenCodec(t *testing.T) Codec {
	t.Helper()
	c, err := NewCodec("amqp://guest:guest@broker.depot.example:5672/tracking", "calipso-depot01-1a2b", Host{
		MachineName: "depot01", ProcessName: "calipso", ProcessID: 4242, Assembly: "calipso",
		AssemblyVersion: "0123456789ab", FrameworkVersion: "go1.26.8", OperatingSystemVersion: "linux/amd64",
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestEncodeWritesTheGoldenMassTransitEnvelope(t *testing.T) {
	m := goldenMessage(t)
	sent := time.Date(2026, 3, 1, 8, 15, 30, 250000000, time.UTC)
	exchange, p, err := goldenCodec(t).Encode(m, sent)
	if err != nil {
		t.Fatal(err)
	}
	if exchange != "Calipso.Tracking.Messages:DepartureStatusUpdated" {
		t.Errorf("exchange = %q", exchange)
	}
	if p.ContentType != "application/vnd.masstransit+json" || p.DeliveryMode != 2 || p.MessageId != m.MessageID ||
		!p.Timestamp.Equal(sent) {
		t.Errorf("properties: content type %q, delivery mode %d, message id %q, timestamp %v",
			p.ContentType, p.DeliveryMode, p.MessageId, p.Timestamp)
	}

	golden := filepath.Join("testdata", "calipso_status_updated.golden.json")
	if *update {
		var out bytes.Buffer
		json.Indent(&out, p.Body, "", "  ")
		out.WriteByte('\n')
		if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var want bytes.Buffer
	if err := json.Compact(&want, readFixture(t, filepath.Base(golden))); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(p.Body, want.Bytes()) {
		t.Fatalf("envelope\n %s\nwant (testdata; go test -update rewrites it)\n %s", p.Body, want.Bytes())
	}

	// Exactly the fields of the contract, in camelCase; the event JSON byte for byte.
	var env map[string]json.RawMessage
	if err := json.Unmarshal(p.Body, &env); err != nil {
		t.Fatal(err)
	}
	wantKeys := []string{"conversationId", "destinationAddress", "headers", "host", "message", "messageId",
		"messageType", "sentTime", "sourceAddress"}
	if keys := sortedKeys(env); !slices.Equal(keys, wantKeys) {
		t.Errorf("envelope fields %v, want %v", keys, wantKeys)
	}
	if string(env["message"]) != string(m.Body) {
		t.Errorf("message %s, want the outbox body %s", env["message"], m.Body)
	}
	var msg map[string]json.RawMessage
	json.Unmarshal(env["message"], &msg)
	for _, k := range []string{"departureId", "newStatus", "previousStatus", "timestamp", "actualDepartureTime", "version"} {
		if _, ok := msg[k]; !ok {
			t.Errorf("message lacks %q: %s", k, env["message"])
		}
	}
	for _, k := range []string{"timestamp", "actualDepartureTime"} {
		var s string
		json.Unmarshal(msg[k], &s)
		if _, err := time.Parse(time.RFC3339, s); err != nil || !strings.HasSuffix(s, "Z") {
			t.Errorf("%s = %s, want RFC 3339 in UTC", k, msg[k])
		}
	}
	if !strings.HasPrefix(string(env["sourceAddress"]), `"rabbitmq://broker.depot.example/tracking/`) ||
		string(env["destinationAddress"]) != `"rabbitmq://broker.depot.example/tracking/Calipso.Tracking.Messages:DepartureStatusUpdated"` {
		t.Errorf("addresses %s, %s", env["sourceAddress"], env["destinationAddress"])
	}

	// And Calipso reads back what it writes.
	ev, err := Decode(&amqp.Delivery{ContentType: p.ContentType, MessageId: p.MessageId, Body: p.Body})
	if err != nil {
		t.Fatal(err)
	}
	if ev.MessageID != m.MessageID || ev.DepartureID != "DEP-000042" || ev.Version != 5 || ev.Status != tracking.StatusInTransit ||
		ev.PreviousStatus != tracking.StatusLoading || !ev.SentTime.Equal(sent) || ev.Departure == nil || ev.Departure.Dock != "D4" {
		t.Fatalf("decoded %+v", ev)
	}
}

func TestEncodeGivesEveryPublicationOfARowTheSameIDs(t *testing.T) {
	m := goldenMessage(t)
	c := goldenCodec(t)
	_, a, _ := c.Encode(m, time.Now())
	_, b, _ := c.Encode(m, time.Now().Add(time.Minute))
	var ea, eb Envelope
	json.Unmarshal(a.Body, &ea)
	json.Unmarshal(b.Body, &eb)
	if ea.MessageID != eb.MessageID || ea.ConversationID != eb.ConversationID || ea.ConversationID == ea.MessageID {
		t.Fatalf("ids %s/%s and %s/%s: want the same pair, two different GUIDs", ea.MessageID, ea.ConversationID, eb.MessageID, eb.ConversationID)
	}
}

func TestEncodeRefusesAnUnknownType(t *testing.T) {
	m := goldenMessage(t)
	m.MessageType = "DepartureDeleted"
	if _, _, err := goldenCodec(t).Encode(m, time.Now()); err == nil {
		t.Fatal("encoded an unknown message type")
	}
}

func sortedKeys[V any](m map[string]V) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
