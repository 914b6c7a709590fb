package main

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"calipso/store"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestUserAddReadsThePasswordFromStdin(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "c.db")
	var out bytes.Buffer
	err := run(context.Background(), []string{"user", "add", "--username", "olga", "--role", "dispatcher"},
		env(map[string]string{"DATABASE_URL": db}), strings.NewReader("s3cret-enough\n"), &out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	st, err := store.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u, err := st.UserByUsername(context.Background(), "olga")
	if err != nil {
		t.Fatal(err)
	}
	if u.Role != "dispatcher" || bcrypt.CompareHashAndPassword(u.PasswordHash, []byte("s3cret-enough")) != nil {
		t.Fatalf("user %+v does not have the password from stdin", u)
	}
}

func TestUserAddRefusesBadInput(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "c.db")
	cases := map[string]struct {
		args  []string
		stdin string
	}{
		"short password": {[]string{"--username", "olga", "--role", "dispatcher"}, "short\n"},
		"unknown role":   {[]string{"--username", "olga", "--role", "king"}, "long enough pw\n"},
		"bad username":   {[]string{"--username", "o l g a", "--role", "admin"}, "long enough pw\n"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(context.Background(), append([]string{"user", "add"}, tc.args...),
				env(map[string]string{"DATABASE_URL": db}), strings.NewReader(tc.stdin), &out)
			if err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestFirstStartPrintsAGeneratedAdminPasswordOnce(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "c.db")
	ctx := context.Background()
	st, err := openStore(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var first, second bytes.Buffer
	if err := ensureAdmin(ctx, st, "", &first); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`password: (\S+)`).FindStringSubmatch(first.String())
	if m == nil {
		t.Fatalf("no password printed: %q", first.String())
	}
	u, err := st.UserByUsername(ctx, "admin")
	if err != nil || bcrypt.CompareHashAndPassword(u.PasswordHash, []byte(m[1])) != nil {
		t.Fatalf("the printed password does not log in: %v", err)
	}
	if err := ensureAdmin(ctx, st, "", &second); err != nil || second.Len() != 0 {
		t.Fatalf("second start printed %q (%v)", second.String(), err)
	}
}

func TestUnknownCommandIsAUsageError(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"launch"}, env(nil), nil, &out); !errors.Is(err, errUsage) {
		t.Fatalf("got %v", err)
	}
}
