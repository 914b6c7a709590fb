package store

import (
	"context"
	"embed"
	"fmt"
	"hash/fnv"
	"io/fs"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// migrations holds one directory of goose SQL files per dialect. Both directories number
// their files alike: a new table gets the same version in each.
//
//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrations embed.FS

// Migrate applies the embedded migrations of the store's dialect (goose). It is idempotent
// and safe to run from several instances at once.
//
// It uses a goose Provider, not goose's package-level state, so that two stores in one
// process (tests, or a tool next to the server) never share a dialect or a base FS.
func (s *Store) Migrate(ctx context.Context) error {
	fsys, err := fs.Sub(migrations, "migrations/"+string(s.dialect))
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	// Migrations are numbered per area (DESIGN: 00002 pipeline, 00003 board, 00004 security,
	// 00005 admin) and the areas land in any order, so a database may already hold 00004 when
	// 00002 arrives: apply such a late, lower-numbered migration rather than refuse to start.
	opts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true), goose.WithAllowOutofOrder(true)}
	gooseDialect := goose.DialectSQLite3
	if s.dialect == dialectPostgres {
		gooseDialect = goose.DialectPostgres
		locker, err := s.migrationLocker(ctx)
		if err != nil {
			return err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	// SQLite gets no locker (goose has none for it): it is the embedded database of a single
	// instance. Run migrations from one process at a time.
	p, err := goose.NewProvider(gooseDialect, s.db, fsys, opts...)
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	// p.Close would close s.db, which the Store owns; a Provider holds nothing else.
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	return nil
}

// migrationLocker serialises migrations of instances that share a PostgreSQL schema, with a
// session advisory lock. The lock id is derived from the schema, so that deployments (and
// test runs) in other schemas of the same database do not wait for each other; goose's
// version table lives in the schema too.
func (s *Store) migrationLocker(ctx context.Context) (lock.SessionLocker, error) {
	var schema string
	if err := s.db.QueryRowContext(ctx, "SELECT COALESCE(current_schema(), '')").Scan(&schema); err != nil {
		return nil, fmt.Errorf("store: current schema: %w", err)
	}
	h := fnv.New64a()
	h.Write([]byte("calipso.migrate:" + schema))
	// Retry every second for up to five minutes: a slow migration in another instance is
	// worth waiting for; anything longer is a stuck instance an operator must look at.
	return lock.NewPostgresSessionLocker(
		lock.WithLockID(int64(h.Sum64())),
		lock.WithLockTimeout(1, 300),
	)
}
