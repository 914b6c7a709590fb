// Package servicetest gives a test a place of its own on the shared services: a RabbitMQ
// virtual host, a Redis key prefix and a PostgreSQL schema, each removed (with what is in it)
// when the test ends. A service that is down fails the test: CI starts them.
package servicetest

import (
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/redis/go-redis/v9"
)

// Defaults for the local services; CALIPSO_TEST_RABBITMQ_URL and CALIPSO_TEST_REDIS_URL
// point elsewhere.
const (
	defaultRabbitMQ = "amqp://guest:guest@127.0.0.1:5672/"
	defaultRedis    = "redis://127.0.0.1:6379/0"
)

// VHost is a RabbitMQ virtual host of one test.
type VHost struct {
	Name string
	URL  string // amqp URL of the virtual host, as guest
}

// RabbitMQ creates a virtual host for t (rabbitmqctl add_vhost, permissions for guest), and
// deletes it with everything in it when t ends. rabbitmqctl takes about a second a call, so
// a test should share its virtual host between its parts.
func RabbitMQ(t testing.TB) VHost {
	t.Helper()
	base := cmp.Or(os.Getenv("CALIPSO_TEST_RABBITMQ_URL"), defaultRabbitMQ)
	name := "calipso_test_" + randomHex(6)
	rabbitmqctl(t, "add_vhost", name)
	t.Cleanup(func() { rabbitmqctl(t, "delete_vhost", name) })
	rabbitmqctl(t, "set_permissions", "-p", name, "guest", ".*", ".*", ".*")
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	v := VHost{Name: name, URL: u.String()}

	conn, err := amqp.Dial(v.URL)
	if err != nil {
		t.Fatalf("RabbitMQ unreachable at %s: %v", u.Host, err)
	}
	conn.Close()
	return v
}

// CloseConnections has the broker close every client connection of the virtual host, as a
// broker restart would.
func (v VHost) CloseConnections(t testing.TB) {
	t.Helper()
	rabbitmqctl(t, "close_all_connections", "-p", v.Name, "test: broker restart")
}

// DenyAccess takes the guest user's permissions on the virtual host away and closes its
// connections, so that the app cannot reconnect: the broker is unreachable for it while the
// test's own connections (opened before) keep working. AllowAccess gives them back.
func (v VHost) DenyAccess(t testing.TB) {
	t.Helper()
	rabbitmqctl(t, "clear_permissions", "-p", v.Name, "guest")
	v.CloseConnections(t)
}

// AllowAccess undoes DenyAccess.
func (v VHost) AllowAccess(t testing.TB) {
	t.Helper()
	rabbitmqctl(t, "set_permissions", "-p", v.Name, "guest", ".*", ".*", ".*")
}

// Channel opens a connection and a channel to the virtual host, closed when t ends, for a
// test to declare, publish and read with.
func (v VHost) Channel(t testing.TB) *amqp.Channel {
	t.Helper()
	conn, err := amqp.Dial(v.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// Bindings lists the bindings of the virtual host, one a line: source, destination and
// destination kind, separated by tabs.
func (v VHost) Bindings(t testing.TB) string {
	t.Helper()
	return rabbitmqctl(t, "list_bindings", "-p", v.Name, "source_name", "destination_name", "destination_kind")
}

func rabbitmqctl(t testing.TB, args ...string) string {
	t.Helper()
	argv := append([]string{"rabbitmqctl", "-q"}, args...)
	if os.Getuid() != 0 {
		argv = append([]string{"sudo", "-n"}, argv...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("rabbitmqctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Redis is the Redis of the tests, with a key prefix of t's own. Keys under the prefix are
// deleted when t ends.
type Redis struct {
	URL    string
	Prefix string
	Client *redis.Client
}

// RedisPrefix returns the test Redis and a fresh key prefix for t.
func RedisPrefix(t testing.TB) Redis {
	t.Helper()
	u := cmp.Or(os.Getenv("CALIPSO_TEST_REDIS_URL"), defaultRedis)
	opts, err := redis.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		t.Fatalf("Redis unreachable: %v", err)
	}
	r := Redis{URL: u, Prefix: "calipso_test_" + randomHex(6) + ":", Client: c}
	t.Cleanup(func() {
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		iter := c.Scan(ctx, 0, r.Prefix+"*", 500).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if len(keys) > 0 {
			c.Del(ctx, keys...)
		}
	})
	return r
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

const defaultPostgres = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// Postgres creates a schema of t's own on the test PostgreSQL (CALIPSO_TEST_POSTGRES_URL or
// the local one), drops it with everything in it when t ends, and returns a URL whose
// search_path is that schema.
func Postgres(t testing.TB) string {
	t.Helper()
	base := cmp.Or(os.Getenv("CALIPSO_TEST_POSTGRES_URL"), defaultPostgres)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	schema := "calipso_test_" + randomHex(8)
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		t.Fatalf("PostgreSQL: %v", err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
