// Package cache is Calipso's read cache in Redis: cache-aside for departures, the dispatcher's
// lists and the boards, invalidated by the consumer of departure events (and at once by the
// instance that made a change), with a TTL on every key as a safety net.
//
// Redis is a cache and nothing else. When it is slow or down, reads go to the database: every
// Redis call has a short timeout, and after a failure Redis is left alone for a cooldown, so
// that a dead Redis costs a page almost nothing and fails no request.
//
// Keys (each under the configured prefix, empty by default):
//
//	tracking:departure:{id}            string: one departure (id is the public id, DEP-000123)
//	tracking:departures:status:{slug}  hash: the dispatcher's lists filtered to that one status,
//	                                   one field per filter
//	tracking:board:lists               hash: every board (field "board:{profile}") and every
//	                                   other list (field "list:{filter}")
//	tracking:cache:epoch               counter: bumped by every invalidation
//
// All boards live in one hash so that an invalidation can drop them all with a single DEL,
// in the same round trip as the other keys, without knowing which profiles exist (a key per
// profile would need a SCAN or a key set, and a round trip more). A hash's TTL is set when it
// is created (EXPIRE NX) and never extended, so nothing in it outlives the TTL.
//
// A reader that misses loads from the database and then fills the key, but only if no
// invalidation happened since its miss (the epoch has not moved): otherwise a change
// committed during the load would be overwritten by the older rows the load returned.
package cache

import (
	"bytes"
	"context"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/singleflight"

	"calipso/metrics"
	"calipso/tracking"
)

// Key names of DESIGN.md, before the prefix.
const (
	DeparturePrefix = "tracking:departure:"
	StatusPrefix    = "tracking:departures:status:"
	BoardPrefix     = "tracking:board:"
	ListsKey        = BoardPrefix + "lists"
	EpochKey        = "tracking:cache:epoch"
)

// Defaults of Config.
const (
	DefaultTTL      = 5 * time.Minute
	DefaultTimeout  = 200 * time.Millisecond
	DefaultCooldown = 2 * time.Second
	// loadTimeout bounds a database load shared by concurrent misses.
	loadTimeout = 30 * time.Second
)

// Config configures the cache.
type Config struct {
	URL    string // redis://[user:password@]host:port/db
	Prefix string // prepended to every key; empty in production
	// TTL is the lifetime of a cached read: the safety net behind invalidation.
	TTL time.Duration
	// Timeout bounds each Redis call (dial, read, write); Cooldown is how long Redis is left
	// alone after a failure.
	Timeout, Cooldown time.Duration
	Log               *slog.Logger
	Metrics           *metrics.Metrics
}

// Cache reads through Redis. It is safe for concurrent use.
type Cache struct {
	rdb      *redis.Client
	prefix   string
	ttl      time.Duration
	timeout  time.Duration
	cooldown time.Duration
	log      *slog.Logger
	m        *metrics.Metrics
	loads    singleflight.Group

	mu       sync.Mutex
	downTill time.Time // Redis is skipped until then
}

// New returns a cache on the Redis at cfg.URL. It does not connect: a Redis that is down
// only makes reads go to the database.
func New(cfg Config) (*Cache, error) {
	opts, err := redis.ParseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("cache: REDIS_URL: %w", err)
	}
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Cooldown <= 0 {
		cfg.Cooldown = DefaultCooldown
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.New()
	}
	opts.DialTimeout = cfg.Timeout
	opts.ReadTimeout = cfg.Timeout
	opts.WriteTimeout = cfg.Timeout
	opts.PoolTimeout = cfg.Timeout
	opts.ContextTimeoutEnabled = true
	opts.MaxRetries = -1   // a retry only doubles the wait of a page when Redis is down
	opts.DialerRetries = 1 // likewise for dials
	opts.DisableIdentity = true
	return &Cache{
		rdb:      redis.NewClient(opts),
		prefix:   cfg.Prefix,
		ttl:      cfg.TTL,
		timeout:  cfg.Timeout,
		cooldown: cfg.Cooldown,
		log:      cfg.Log.With("component", "cache"),
		m:        cfg.Metrics,
	}, nil
}

// Close closes the connections to Redis.
func (c *Cache) Close() error { return c.rdb.Close() }

// Ping checks Redis answers.
func (c *Cache) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	return c.rdb.Ping(ctx).Err()
}

// UsedMemory is Redis's own figure of the memory it uses ("1.52M"), for the admin page.
func (c *Cache) UsedMemory(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	info, err := c.rdb.Info(ctx, "memory").Result()
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory_human:"); ok {
			return v, nil
		}
	}
	return "", errors.New("redis INFO has no used_memory_human")
}

// DepartureKey is the key of one departure (public id DEP-000123).
func (c *Cache) DepartureKey(publicID string) string { return c.prefix + DeparturePrefix + publicID }

// StatusKey is the key of the lists of one status.
func (c *Cache) StatusKey(s tracking.Status) string { return c.prefix + StatusPrefix + s.Slug() }

// ListsKey is the key of the boards and the lists of several statuses.
func (c *Cache) ListsKey() string { return c.prefix + ListsKey }

func (c *Cache) epochKey() string { return c.prefix + EpochKey }

// Departure returns departure id from the cache, or from load (then cached).
func (c *Cache) Departure(ctx context.Context, id int64, load func(context.Context) (tracking.Departure, error)) (tracking.Departure, error) {
	return read(ctx, c, c.DepartureKey(tracking.FormatID(id)), "", load)
}

// Board returns the departures of a board from the cache, or from load (then cached).
// profileKey identifies what the board shows (its filter); every change of any departure
// drops every board.
func (c *Cache) Board(ctx context.Context, profileKey string, load func(context.Context) ([]tracking.Departure, error)) ([]tracking.Departure, error) {
	return read(ctx, c, c.ListsKey(), "board:"+profileKey, load)
}

// List returns the departures matching f from the cache, or from load (then cached). A list
// of exactly one status is kept with that status, so that only changes to or from it drop it.
func (c *Cache) List(ctx context.Context, f tracking.DepartureFilter, load func(context.Context) ([]tracking.Departure, error)) ([]tracking.Departure, error) {
	field, err := filterField(f)
	if err != nil {
		return load(ctx)
	}
	if len(f.Statuses) == 1 && f.Statuses[0].Valid() {
		return read(ctx, c, c.StatusKey(f.Statuses[0]), field, load)
	}
	return read(ctx, c, c.ListsKey(), "list:"+field, load)
}

// filterField names a filter as a hash field: its JSON, with times in UTC so that the same
// instants make the same field.
func filterField(f tracking.DepartureFilter) (string, error) {
	if !f.From.IsZero() {
		f.From = f.From.UTC()
	}
	if !f.To.IsZero() {
		f.To = f.To.UTC()
	}
	b, err := json.Marshal(f)
	return string(b), err
}

// Invalidate drops what a change of departure departureID (a public id) makes stale: its
// key, the lists of statuses (the old and the new one), and every board and mixed list; and
// it moves the epoch, so that no load that started before lands in the cache. All in one
// round trip.
func (c *Cache) Invalidate(ctx context.Context, departureID string, statuses ...tracking.Status) error {
	keys := []string{c.DepartureKey(departureID), c.ListsKey()}
	for _, s := range statuses {
		if s.Valid() {
			keys = append(keys, c.StatusKey(s))
		}
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	_, err := c.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, keys...)
		p.Incr(ctx, c.epochKey())
		return nil
	})
	if err != nil {
		c.failed(err)
		return fmt.Errorf("cache: invalidate %s: %w", departureID, err)
	}
	return nil
}

// available reports whether Redis is worth a try: not during the cooldown after a failure.
func (c *Cache) available() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().After(c.downTill)
}

// failed starts a cooldown after a Redis failure, logging once per outage.
func (c *Cache) failed(err error) {
	if errors.Is(err, context.Canceled) {
		return // the caller went away; Redis may be fine
	}
	c.mu.Lock()
	wasUp := time.Now().After(c.downTill)
	c.downTill = time.Now().Add(c.cooldown)
	c.mu.Unlock()
	if wasUp {
		c.log.Warn("redis unavailable; reading from the database", "err", err, "retry_in", c.cooldown)
	}
}

// fill stores a value only if the epoch is still the one seen at the miss.
var fill = redis.NewScript(`
local epoch = redis.call('GET', KEYS[2]) or ''
if epoch ~= ARGV[1] then return 0 end
if ARGV[4] == '' then
	redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
else
	redis.call('HSET', KEYS[1], ARGV[4], ARGV[2])
	redis.call('PEXPIRE', KEYS[1], ARGV[3], 'NX')
end
return 1`)

// read is cache-aside for one key (field "" for a string key, else a field of a hash).
// Concurrent misses of one key share one load.
func read[T any](ctx context.Context, c *Cache, key, field string, load func(context.Context) (T, error)) (T, error) {
	if !c.available() {
		c.m.CacheRequests.WithLabelValues("error").Inc()
		return shared(ctx, c, key, field, "", false, load)
	}
	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	var get *redis.StringCmd
	var epoch *redis.StringCmd
	_, err := c.rdb.Pipelined(rctx, func(p redis.Pipeliner) error {
		if field == "" {
			get = p.Get(rctx, key)
		} else {
			get = p.HGet(rctx, key, field)
		}
		epoch = p.Get(rctx, c.epochKey())
		return nil
	})
	cancel()
	if err != nil && !errors.Is(err, redis.Nil) {
		c.failed(err)
		c.m.CacheRequests.WithLabelValues("error").Inc()
		return shared(ctx, c, key, field, "", false, load)
	}
	if b, err := get.Bytes(); err == nil {
		var v T
		if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&v); err == nil {
			c.m.CacheRequests.WithLabelValues("hit").Inc()
			return v, nil
		}
	}
	c.m.CacheRequests.WithLabelValues("miss").Inc()
	return shared(ctx, c, key, field, epoch.Val(), true, load)
}

// encode is how values are kept in Redis. gob, not JSON: a board of 100 departures decodes
// about four times faster (BenchmarkBoardRead), and only Calipso reads these values. A value
// left by another encoding fails to decode and counts as a miss.
func encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	err := gob.NewEncoder(&buf).Encode(v)
	return buf.Bytes(), err
}

// shared runs load once for all concurrent callers of one key, and fills the key when store
// is set and the epoch has not moved since it was seen.
func shared[T any](ctx context.Context, c *Cache, key, field, epoch string, store bool, load func(context.Context) (T, error)) (T, error) {
	ch := c.loads.DoChan(key+"\x00"+field, func() (any, error) {
		// Detached from the first caller, whose departure must not fail the others.
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), loadTimeout)
		defer cancel()
		v, err := load(lctx)
		if err != nil || !store {
			return v, err
		}
		if b, err := encode(v); err == nil {
			fctx, cancel := context.WithTimeout(lctx, c.timeout)
			err := fill.Run(fctx, c.rdb, []string{key, c.epochKey()},
				epoch, b, strconv.FormatInt(c.ttl.Milliseconds(), 10), field).Err()
			cancel()
			if err != nil {
				c.failed(err)
			}
		}
		return v, nil
	})
	select {
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	case r := <-ch:
		if r.Err != nil {
			var zero T
			return zero, r.Err
		}
		return r.Val.(T), nil
	}
}
