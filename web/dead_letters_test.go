package web_test

import (
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	amqp "github.com/rabbitmq/amqp091-go"

	"calipso/internal/servicetest"
	"calipso/messaging"
	"calipso/metrics"
	"calipso/web"
)

// Helpers for the security walks over the admin page's dead letters, which come from the
// broker and so are untrusted input too.

// brokerWalkApp is walkApp with the admin console on a virtual host of its own, whose error
// queue holds the dead letters the test puts there.
func brokerWalkApp(t *testing.T) (*testApp, *amqp.Channel) {
	vh := servicetest.RabbitMQ(t)
	red := servicetest.RedisPrefix(t)
	ta := newTestAppWith(t, func(d *web.Deps) {
		d.Metrics = metrics.New().Handler()
		d.Admin = console(t, d, vh.URL, red.URL)
	})
	ch := vh.Channel(t)
	declareEndpoint(t, ch)
	return ta, ch
}

// declareEndpoint lays out the consumer's queue, its input exchange and its error queue, as
// the consumer would: replays go to the input exchange.
func declareEndpoint(t *testing.T, ch *amqp.Channel) {
	t.Helper()
	q := messaging.TrackingScreenQueue
	errQ := messaging.ErrorQueue(q)
	for _, err := range []error{
		ch.ExchangeDeclare(q, amqp.ExchangeFanout, true, false, false, false, nil),
		declareQueue(ch, q),
		ch.QueueBind(q, "", q, false, nil),
		declareQueue(ch, errQ),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func declareQueue(ch *amqp.Channel, name string) error {
	_, err := ch.QueueDeclare(name, true, false, false, false, nil)
	return err
}

// putDeadLetter puts a message straight into the error queue, as a faulting consumer would.
func putDeadLetter(t *testing.T, ch *amqp.Channel, p amqp.Publishing) {
	t.Helper()
	p.DeliveryMode = amqp.Persistent
	if err := ch.PublishWithContext(t.Context(), "", messaging.ErrorQueue(messaging.TrackingScreenQueue), false, false, p); err != nil {
		t.Fatal(err)
	}
}

// deadLetters puts one dead letter per payload in the error queue, the payload in its message
// id, its fault headers and its body, and returns the admin page once it lists them all.
func (x *xssFixture) deadLetters(t *testing.T) []string {
	for _, p := range xssPayloads {
		putDeadLetter(t, x.broker, amqp.Publishing{
			MessageId: p, ContentType: "application/json", Type: p, Body: []byte(p),
			Headers: amqp.Table{"MT-Fault-Message": p, "MT-Fault-ExceptionType": p, "MT-Reason": "fault"},
		})
	}
	want := `data-dead-letter-total>` + strconv.Itoa(len(xssPayloads)) + `<`
	deadline := time.Now().Add(20 * time.Second)
	for {
		res := x.admin.get("/admin")
		if res.status == fiber.StatusOK && strings.Contains(res.body, want) {
			return []string{res.body}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the admin page never listed the %d dead letters: %d %.2000s", len(xssPayloads), res.status, res.body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// deadLetterDeletePages are the confirmation pages of deleting each payload's dead letter, which
// echo its id.
func (x *xssFixture) deadLetterDeletePages(t *testing.T) []string {
	var out []string
	for _, p := range xssPayloads {
		out = append(out, x.get(t, x.admin, "/admin/dead-letters/"+url.PathEscape(p)+"/delete")...)
	}
	return out
}
