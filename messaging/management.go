package messaging

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Management reads the extra figures of a queue (unacked messages, rates) from RabbitMQ's
// management HTTP API. It is optional: the admin page works without it from what AMQP tells,
// and uses it only when it is configured and answers.
type Management struct {
	base   *url.URL // e.g. http://guest:guest@localhost:15672
	vhost  string
	client *http.Client
}

// NewManagement returns a client of the management API at baseURL (credentials in the URL)
// for the virtual host of the AMQP URL brokerURL.
func NewManagement(baseURL, brokerURL string) (*Management, error) {
	base, err := url.Parse(baseURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("management API URL %q: want http(s)://user:password@host:port", redact(baseURL))
	}
	amqpURL, err := url.Parse(brokerURL)
	if err != nil {
		return nil, fmt.Errorf("broker URL: %w", err)
	}
	vhost := strings.TrimPrefix(amqpURL.Path, "/")
	if vhost == "" {
		vhost = "/"
	}
	return &Management{base: base, vhost: vhost, client: &http.Client{Timeout: 2 * time.Second}}, nil
}

// QueueDetail is what the management API adds to a passive declare.
type QueueDetail struct {
	Ready, Unacked, Consumers int
	Publish, Deliver, Ack     float64 // messages per second
}

// Queue reads one queue's figures.
func (m *Management) Queue(ctx context.Context, name string) (QueueDetail, error) {
	// The default virtual host is "/", which the API wants as %2F: hence RawPath.
	u := *m.base
	u.User = nil
	u.Path = strings.TrimSuffix(m.base.Path, "/") + "/api/queues/" + m.vhost + "/" + name
	u.RawPath = strings.TrimSuffix(m.base.EscapedPath(), "/") + "/api/queues/" + url.PathEscape(m.vhost) + "/" + url.PathEscape(name)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return QueueDetail{}, err
	}
	if m.base.User != nil {
		pw, _ := m.base.User.Password()
		req.SetBasicAuth(m.base.User.Username(), pw)
	}
	res, err := m.client.Do(req)
	if err != nil {
		return QueueDetail{}, fmt.Errorf("management API: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return QueueDetail{}, fmt.Errorf("management API: %s", res.Status)
	}
	var body struct {
		Ready     int `json:"messages_ready"`
		Unacked   int `json:"messages_unacknowledged"`
		Consumers int `json:"consumers"`
		Stats     struct {
			Publish struct{ Rate float64 } `json:"publish_details"`
			Deliver struct{ Rate float64 } `json:"deliver_get_details"`
			Ack     struct{ Rate float64 } `json:"ack_details"`
		} `json:"message_stats"`
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&body); err != nil {
		return QueueDetail{}, fmt.Errorf("management API: %w", err)
	}
	return QueueDetail{
		Ready: body.Ready, Unacked: body.Unacked, Consumers: body.Consumers,
		Publish: body.Stats.Publish.Rate, Deliver: body.Stats.Deliver.Rate, Ack: body.Stats.Ack.Rate,
	}, nil
}

// redact hides a password in a URL for an error message.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	return u.Redacted()
}
