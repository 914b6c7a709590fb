package messaging

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"

	"calipso/tracking"
)

// FuzzDecodeDelivery feeds the decoder whatever a broker could deliver: any body, under any content
// type, AMQP type and exchange. It must never panic, must fail only with a *DecodeError (which
// sends the message to _error rather than retrying it), and what it accepts must name a known
// type, a well-formed departure id, a known status and a version that is not negative.
func FuzzDecodeDelivery(f *testing.F) {
	mt := readFixtureF(f, "masstransit_status_updated.json")
	raw := readFixtureF(f, "raw_departure_updated.json")
	f.Add(ContentTypeMassTransit, "", "Calipso.Tracking.Messages:DepartureStatusUpdated", mt)
	f.Add(ContentTypeJSON, "DepartureUpdated", "", raw)
	f.Add("", "", "", mt)
	f.Add("application/json; charset=utf-8", "", "Calipso.Tracking.Messages:DepartureUpdated", raw)
	f.Add(ContentTypeJSON, "DepartureStatusUpdated", "", []byte(`{"departureId":"DEP-000001","newStatus":"in_transit","previousStatus":"Pending","version":9223372036854775807}`))
	f.Add(ContentTypeMassTransit, "", "", []byte(`{"messageType":["urn:message:Calipso.Tracking.Messages:DepartureUpdated"],"message":{"departureId":"DEP-000001","status":"Pending","departure":{"destination":"<script>alert(1)</script>","status":"Gone"}}}`))
	f.Add("text/plain", "", "", []byte("\xff\xfe\x00"))
	f.Fuzz(func(t *testing.T, contentType, amqpType, exchange string, body []byte) {
		d := amqp.Delivery{ContentType: contentType, Type: amqpType, Exchange: exchange, Body: body}
		ev, err := Decode(&d)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) || de.Reason == "" {
				t.Fatalf("rejection %v is not a *DecodeError with a reason", err)
			}
			return
		}
		if ev.Type != tracking.MessageStatusUpdated && ev.Type != tracking.MessageDepartureUpdate {
			t.Fatalf("accepted unknown type %q", ev.Type)
		}
		if _, err := tracking.ParseID(ev.DepartureID); err != nil {
			t.Fatalf("accepted departure id %q", ev.DepartureID)
		}
		if !ev.Status.Valid() || ev.Version < 0 {
			t.Fatalf("accepted status %q version %d", ev.Status, ev.Version)
		}
		if ev.Type == tracking.MessageStatusUpdated && !ev.PreviousStatus.Valid() {
			t.Fatalf("accepted previous status %q", ev.PreviousStatus)
		}
		if ev.Departure != nil && (ev.Departure.PublicID() != ev.DepartureID || ev.Departure.Version != ev.Version) {
			t.Fatalf("the snapshot is of %s v%d, the event of %s v%d",
				ev.Departure.PublicID(), ev.Departure.Version, ev.DepartureID, ev.Version)
		}
	})
}

func readFixtureF(f *testing.F, name string) []byte {
	f.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		f.Fatal(err)
	}
	return b
}
