package store

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"modernc.org/sqlite"
)

// sqliteMaxConns bounds the SQLite pool. Readers need no more: WAL lets them run beside the
// one writer, and writers queue on SQLite's own lock anyway.
const sqliteMaxConns = 8

// openSQLite opens the file at path with WAL, a busy timeout and foreign keys on every
// connection of the pool.
//
// SQLite allows one writer at a time. Rather than a single-connection pool (which would also
// queue every reader behind every writer, and does nothing for a second process such as
// `calipso user add` writing to the same file), transactions begin IMMEDIATE: a writer takes
// the write lock when it begins, and others wait for it under busy_timeout. With the default
// DEFERRED, two transactions that both read and then write would each hold a read lock and
// deadlock on the upgrade, which SQLite reports as SQLITE_BUSY at once, without waiting.
// Read-only transactions (BeginTx with ReadOnly) still begin DEFERRED and never wait.
func openSQLite(path string) (*sql.DB, error) {
	// sqlite:///abs/path and sqlite://rel/path are accepted as well as sqlite:PATH.
	path = strings.TrimPrefix(path, "//")
	switch {
	case path == "":
		return nil, errors.New("store: sqlite URL has no path: use sqlite:PATH")
	case path == ":memory:" || strings.HasPrefix(path, "file:") || strings.Contains(path, "?"):
		return nil, fmt.Errorf("store: unsupported sqlite path %q: use sqlite:PATH to a file", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("store: create the database directory: %w", err)
	}
	dsn := path + "?_txlock=immediate" +
		"&_pragma=busy_timeout(10000)" +
		"&_pragma=journal_mode(WAL)" +
		"&_pragma=foreign_keys(1)"
	registerSQLiteFunctions.Do(func() {
		sqlite.MustRegisterDeterministicScalarFunction("calipso_lower", 1, sqliteLower)
	})
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open sqlite: %w", err)
	}
	db.SetMaxOpenConns(sqliteMaxConns)
	// Keep idle connections: a new one re-runs the pragmas and starts with a cold page cache.
	db.SetMaxIdleConns(sqliteMaxConns)
	return db, nil
}

// registerSQLiteFunctions registers calipso_lower with the driver, once per process: the
// driver keeps functions for every connection it opens later.
var registerSQLiteFunctions sync.Once

// sqliteLower is calipso_lower(text): Unicode lower case. SQLite's own lower() and LIKE fold
// ASCII letters only, so "ZÜRICH" would not match "zürich" as it does with PostgreSQL's ILIKE.
func sqliteLower(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
	switch v := args[0].(type) {
	case string:
		return strings.ToLower(v), nil
	case []byte:
		return strings.ToLower(string(v)), nil
	case nil:
		return nil, nil
	}
	return nil, errors.New("calipso_lower: not text")
}
