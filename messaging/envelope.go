package messaging

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/google/uuid"

	"calipso/store"
	"calipso/tracking"
)

// Content types of a message body: the AMQP content_type decides how a body is read.
const (
	ContentTypeMassTransit = "application/vnd.masstransit+json"
	ContentTypeJSON        = "application/json"
)

// ExchangeName is the exchange MassTransit publishes a message type to, such as
// "Calipso.Tracking.Messages:DepartureStatusUpdated": fanout, durable, routing key "".
func ExchangeName(messageType string) string {
	return tracking.MessageNamespace + ":" + messageType
}

// messageURN is the MassTransit name of a message type, as listed in an envelope's messageType.
func messageURN(messageType string) string { return "urn:message:" + ExchangeName(messageType) }

// Envelope is MassTransit's JSON envelope (application/vnd.masstransit+json). Calipso writes
// exactly these fields; when reading, it ignores the ones MassTransit adds and it does not
// need (requestId, correlationId, initiatorId, responseAddress, faultAddress,
// expirationTime).
type Envelope struct {
	MessageID          string          `json:"messageId"`
	ConversationID     string          `json:"conversationId"`
	SourceAddress      string          `json:"sourceAddress"`
	DestinationAddress string          `json:"destinationAddress"`
	MessageType        []string        `json:"messageType"`
	Message            json.RawMessage `json:"message"`
	SentTime           time.Time       `json:"sentTime"`
	Headers            map[string]any  `json:"headers"`
	Host               Host            `json:"host"`
}

// Host describes the process that sent a message, as MassTransit's envelope does.
type Host struct {
	MachineName            string `json:"machineName"`
	ProcessName            string `json:"processName"`
	ProcessID              int    `json:"processId"`
	Assembly               string `json:"assembly"`
	AssemblyVersion        string `json:"assemblyVersion"`
	FrameworkVersion       string `json:"frameworkVersion"`
	MassTransitVersion     string `json:"massTransitVersion,omitempty"`
	OperatingSystemVersion string `json:"operatingSystemVersion"`
}

// Codec writes outbox messages as MassTransit would publish them.
type Codec struct {
	host    Host
	base    string // rabbitmq://host[:port][/vhost], the prefix of every address
	source  string // sourceAddress: this instance
	appName string
}

// NewCodec returns the codec of an instance connected to brokerURL (an amqp:// URL, whose
// host and virtual host make the rabbitmq:// addresses) and named instance.
func NewCodec(brokerURL, instance string, host Host) (Codec, error) {
	uri, err := amqp.ParseURI(brokerURL)
	if err != nil {
		return Codec{}, fmt.Errorf("messaging: broker URL: %w", err)
	}
	base := "rabbitmq://" + uri.Host
	if uri.Port != 5672 && uri.Port != 5671 && uri.Port != 0 {
		base += fmt.Sprintf(":%d", uri.Port)
	}
	if uri.Vhost != "/" && uri.Vhost != "" {
		base += "/" + url.PathEscape(uri.Vhost)
	}
	return Codec{host: host, base: base, source: base + "/" + url.PathEscape(instance), appName: host.ProcessName}, nil
}

// conversationSpace derives an envelope's conversationId from its messageId, so that every
// publication of one outbox row is the same message, byte for byte, apart from sentTime.
var conversationSpace = uuid.MustParse("5b0c3a43-59e3-4bb5-9d57-8b1f0f4c7a10")

// Encode returns the exchange and the AMQP message of an outbox row, sent at sent: the body is
// the MassTransit envelope around the row's event JSON, byte for byte; the message is
// persistent and carries the row's message id.
func (c Codec) Encode(m store.OutboxMessage, sent time.Time) (exchange string, p amqp.Publishing, err error) {
	if m.MessageType != tracking.MessageStatusUpdated && m.MessageType != tracking.MessageDepartureUpdate {
		return "", amqp.Publishing{}, fmt.Errorf("messaging: unknown message type %q", m.MessageType)
	}
	if !json.Valid(m.Body) {
		return "", amqp.Publishing{}, fmt.Errorf("messaging: outbox row %d: body is not JSON", m.ID)
	}
	exchange = ExchangeName(m.MessageType)
	sent = sent.UTC()
	env := Envelope{
		MessageID:          m.MessageID,
		ConversationID:     uuid.NewSHA1(conversationSpace, []byte(m.MessageID)).String(),
		SourceAddress:      c.source,
		DestinationAddress: c.base + "/" + url.PathEscape(exchange),
		MessageType:        []string{messageURN(m.MessageType)},
		Message:            json.RawMessage(m.Body),
		SentTime:           sent,
		Headers:            map[string]any{},
		Host:               c.host,
	}
	body, err := json.Marshal(env)
	if err != nil {
		return "", amqp.Publishing{}, fmt.Errorf("messaging: encode envelope: %w", err)
	}
	return exchange, amqp.Publishing{
		ContentType:  ContentTypeMassTransit,
		DeliveryMode: amqp.Persistent,
		MessageId:    m.MessageID,
		Timestamp:    sent,
		AppId:        c.appName,
		Body:         body,
	}, nil
}

// Event is a departure event as consumers see it, whichever way it was encoded.
type Event struct {
	MessageID   string
	Type        string // tracking.MessageStatusUpdated or tracking.MessageDepartureUpdate
	DepartureID string // public id, DEP-000123
	// Version is the departure's version after the change; 0 when the publisher sends none
	// (the original .NET contract has no version).
	Version        int64
	Status         tracking.Status // the status after the change
	PreviousStatus tracking.Status // before a status change; "" for DepartureUpdated
	// Departure is the whole departure after the change, from the event's snapshot; nil when
	// the event carries none.
	Departure *tracking.Departure
	// SentTime is the envelope's sentTime, else the AMQP timestamp (whole seconds).
	SentTime time.Time
}

// DecodeError is a message that can never be handled: retrying it is pointless.
type DecodeError struct{ Reason string }

func (e *DecodeError) Error() string { return "undecodable message: " + e.Reason }

func undecodable(format string, args ...any) error {
	return &DecodeError{Reason: fmt.Sprintf(format, args...)}
}

// MaxBody bounds a message body. An event is about a kilobyte; a body many times that is not
// one of ours, and refusing it keeps a hostile publisher from filling the consumer's memory.
const MaxBody = 64 << 10

// Decode reads a delivery: a MassTransit envelope or raw JSON, as its content type says (a
// body without one is sniffed). It fails with a *DecodeError for anything it cannot read or
// would not trust: an oversized body, invalid UTF-8, a departure snapshot whose fields break
// the domain's rules or whose status is not the event's.
func Decode(d *amqp.Delivery) (Event, error) {
	if len(d.Body) > MaxBody {
		return Event{}, undecodable("body of %d bytes, over the %d-byte limit", len(d.Body), MaxBody)
	}
	if !utf8.Valid(d.Body) {
		return Event{}, undecodable("body is not valid UTF-8")
	}
	ev := Event{MessageID: d.MessageId, SentTime: d.Timestamp}
	contentType := d.ContentType
	if mt, _, err := mime.ParseMediaType(contentType); err == nil {
		contentType = mt
	}
	if contentType == "" {
		contentType = ContentTypeJSON
		if bytes.Contains(d.Body, []byte(`"messageType"`)) {
			contentType = ContentTypeMassTransit
		}
	}
	var message []byte
	switch strings.ToLower(contentType) {
	case ContentTypeMassTransit:
		var env Envelope
		if err := json.Unmarshal(d.Body, &env); err != nil {
			return Event{}, undecodable("envelope: %v", err)
		}
		for _, urn := range env.MessageType {
			if t := typeOf(urn); t != "" {
				ev.Type = t
				break
			}
		}
		if ev.Type == "" {
			return Event{}, undecodable("no known type in messageType %q", env.MessageType)
		}
		if len(env.Message) == 0 || string(env.Message) == "null" {
			return Event{}, undecodable("envelope without a message")
		}
		message = env.Message
		if env.MessageID != "" {
			ev.MessageID = env.MessageID
		}
		if !env.SentTime.IsZero() {
			ev.SentTime = env.SentTime
		}
	case ContentTypeJSON:
		message = d.Body
		ev.Type = typeOf(d.Type)
		if ev.Type == "" {
			ev.Type = typeOf(d.Exchange)
		}
		if ev.Type == "" {
			ev.Type = typeByShape(message)
		}
	default:
		return Event{}, undecodable("content type %q", d.ContentType)
	}
	if err := decodeMessage(&ev, message); err != nil {
		return Event{}, err
	}
	if !ev.SentTime.IsZero() {
		ev.SentTime = ev.SentTime.UTC()
	}
	return ev, nil
}

// typeOf reads a message type from a URN, an exchange name or a bare type name.
func typeOf(name string) string {
	name = strings.TrimPrefix(name, "urn:message:")
	name = strings.TrimPrefix(name, tracking.MessageNamespace+":")
	for _, t := range tracking.MessageTypes {
		if name == t {
			return t
		}
	}
	return ""
}

// typeByShape tells the type of a raw JSON message that says nothing else about itself (for
// example one that came back through a delay queue): only a status change has newStatus.
func typeByShape(message []byte) string {
	var probe struct {
		NewStatus *string `json:"newStatus"`
	}
	if json.Unmarshal(message, &probe) == nil && probe.NewStatus != nil {
		return tracking.MessageStatusUpdated
	}
	return tracking.MessageDepartureUpdate
}

func decodeMessage(ev *Event, message []byte) error {
	var snap *tracking.DepartureSnapshot
	switch ev.Type {
	case tracking.MessageStatusUpdated:
		var m tracking.DepartureStatusUpdated
		if err := json.Unmarshal(message, &m); err != nil {
			return undecodable("%s: %v", ev.Type, err)
		}
		ev.DepartureID, ev.Version, ev.Status, ev.PreviousStatus, snap = m.DepartureID, m.Version, m.NewStatus, m.PreviousStatus, m.Departure
		if !ev.PreviousStatus.Valid() {
			return undecodable("previousStatus %q", m.PreviousStatus)
		}
	case tracking.MessageDepartureUpdate:
		var m tracking.DepartureUpdated
		if err := json.Unmarshal(message, &m); err != nil {
			return undecodable("%s: %v", ev.Type, err)
		}
		ev.DepartureID, ev.Version, ev.Status, snap = m.DepartureID, m.Version, m.Status, m.Departure
	default:
		return undecodable("message type %q", ev.Type)
	}
	if _, err := tracking.ParseID(ev.DepartureID); err != nil {
		return undecodable("departureId %q", ev.DepartureID)
	}
	if !ev.Status.Valid() {
		return undecodable("status %q", ev.Status)
	}
	if ev.Version < 0 {
		return undecodable("version %d", ev.Version)
	}
	if snap != nil {
		d, err := snap.Departure(ev.DepartureID, ev.Version)
		if err != nil {
			return undecodable("departure snapshot: %v", err)
		}
		if err := d.DepartureFields.Validate(); err != nil {
			return undecodable("departure snapshot: %s", tracking.FieldSummary(err))
		}
		if d.Status != ev.Status {
			return undecodable("departure snapshot is %q, the event says %q", d.Status, ev.Status)
		}
		if utf8.RuneCountInString(d.UpdatedBy) > maxUpdatedBy {
			return undecodable("departure snapshot: updatedBy over %d characters", maxUpdatedBy)
		}
		ev.Departure = &d
	}
	return nil
}

// maxUpdatedBy bounds the name in a snapshot's updatedBy (a username or a process name).
const maxUpdatedBy = 100

// errClosed ends a worker whose channel or delivery stream closed under it.
var errClosed = errors.New("messaging: channel closed")
