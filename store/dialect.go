package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// dialect is the handful of things SQLite and PostgreSQL do differently. Everything else is
// one database/sql code path, written with ? placeholders.
type dialect string

const (
	dialectSQLite   dialect = "sqlite"
	dialectPostgres dialect = "postgres"
)

// sqliteTimeLayout is how SQLite stores a timestamp: TEXT, UTC, always six fractional digits.
// The fixed width makes text order equal time order, so ORDER BY and range filters work on
// the column as it is. PostgreSQL stores TIMESTAMPTZ, which also has microsecond precision.
const sqliteTimeLayout = "2006-01-02T15:04:05.000000Z07:00"

// dbTime is t as the database keeps it: UTC, truncated to the microsecond both dialects hold,
// so that what a method returns equals what a later read returns.
func dbTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// now is the time of a change.
func now() time.Time { return dbTime(time.Now()) }

// rebind turns ? placeholders into PostgreSQL's $1, $2, …. Queries in this package never
// contain a literal question mark.
func (d dialect) rebind(query string) string {
	if d != dialectPostgres || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

// arg converts a query argument to the dialect's form: times become the dialect's timestamp
// (see sqliteTimeLayout) and a nil *time.Time becomes NULL. Every query in the package goes
// through dbtx, which calls this, so a caller simply passes time.Time values.
func (d dialect) arg(v any) any {
	switch v := v.(type) {
	case time.Time:
		if d == dialectSQLite {
			return dbTime(v).Format(sqliteTimeLayout)
		}
		return dbTime(v)
	case *time.Time:
		if v == nil {
			return nil
		}
		return d.arg(*v)
	}
	return v
}

// containsFold is the condition "column contains the pattern, ignoring case", where the
// pattern comes from containsPattern. PostgreSQL's ILIKE folds every letter; SQLite's LIKE
// folds ASCII only, so there the column goes through calipso_lower (see sqliteLower).
func (d dialect) containsFold(column string) string {
	if d == dialectPostgres {
		return column + ` ILIKE ? ESCAPE '!'`
	}
	return `calipso_lower(` + column + `) LIKE ? ESCAPE '!'`
}

// containsPattern is the LIKE pattern for containsFold: s lower-cased, its wildcards escaped.
func containsPattern(s string) string {
	return "%" + likeEscape(strings.ToLower(s)) + "%"
}

// likeEscape escapes LIKE's wildcards for a pattern written with ESCAPE '!'.
func likeEscape(s string) string {
	return strings.NewReplacer("!", "!!", "%", "!%", "_", "!_").Replace(s)
}

// forUpdate locks the selected row until the transaction ends. SQLite needs nothing: its
// transactions begin IMMEDIATE (see openSQLite), so a writer already holds the database.
func (d dialect) forUpdate() string {
	if d == dialectPostgres {
		return " FOR UPDATE"
	}
	return ""
}

// bytewise makes a text comparison compare bytes, as SQLite's default BINARY collation does,
// rather than follow the PostgreSQL database's locale: both dialects then sort alike.
func (d dialect) bytewise() string {
	if d == dialectPostgres {
		return ` COLLATE "C"`
	}
	return ""
}

// isUniqueViolation reports whether err is a UNIQUE constraint failure on either dialect.
func isUniqueViolation(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505" // unique_violation
	}
	return false
}

// timeCol scans a timestamp column of either dialect into a UTC time.
type timeCol struct{ dst *time.Time }

func (c timeCol) Scan(v any) error {
	t, err := parseDBTime(v)
	if err != nil {
		return err
	}
	if t == nil {
		return errors.New("store: unexpected NULL timestamp")
	}
	*c.dst = *t
	return nil
}

// nullTimeCol scans a nullable timestamp column; NULL becomes a nil pointer.
type nullTimeCol struct{ dst **time.Time }

func (c nullTimeCol) Scan(v any) error {
	t, err := parseDBTime(v)
	if err != nil {
		return err
	}
	*c.dst = t
	return nil
}

func parseDBTime(v any) (*time.Time, error) {
	var t time.Time
	switch v := v.(type) {
	case nil:
		return nil, nil
	case time.Time:
		t = v
	case string:
		p, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return nil, fmt.Errorf("store: bad timestamp %q: %w", v, err)
		}
		t = p
	case []byte:
		return parseDBTime(string(v))
	default:
		return nil, fmt.Errorf("store: cannot scan %T into a timestamp", v)
	}
	t = t.UTC()
	return &t, nil
}

// dbtx is a transaction that speaks ? placeholders and plain time.Time arguments on both
// dialects. Lower-case helpers take one, so they run inside the caller's transaction.
type dbtx struct {
	*sql.Tx
	d dialect
}

func (tx *dbtx) args(args []any) []any {
	out := make([]any, len(args))
	for i, a := range args {
		out[i] = tx.d.arg(a)
	}
	return out
}

func (tx *dbtx) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return tx.ExecContext(ctx, tx.d.rebind(query), tx.args(args)...)
}

func (tx *dbtx) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return tx.QueryContext(ctx, tx.d.rebind(query), tx.args(args)...)
}

func (tx *dbtx) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return tx.QueryRowContext(ctx, tx.d.rebind(query), tx.args(args)...)
}

// placeholders returns "?, ?, ?" for n values.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// skipLocked ends a SELECT that claims rows: on PostgreSQL the rows are locked, and rows
// another transaction has locked are skipped rather than waited for, so that concurrent
// claimers take disjoint rows. SQLite's one writer at a time needs nothing.
func (d dialect) skipLocked() string {
	if d == dialectPostgres {
		return " FOR UPDATE SKIP LOCKED"
	}
	return ""
}
