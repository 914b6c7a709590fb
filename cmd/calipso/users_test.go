package main

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"calipso/store"
	"calipso/tracking"
)

// calipso runs one command against db and fails the test if it fails.
func calipso(t *testing.T, db, stdin string, args ...string) {
	t.Helper()
	var out bytes.Buffer
	if err := run(context.Background(), args, env(map[string]string{"DATABASE_URL": db}), strings.NewReader(stdin), &out); err != nil {
		t.Fatalf("calipso %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
}

func TestUserPasswdDisableAndEnableChangeTheUserAndAreAudited(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "c.db")
	calipso(t, db, "first-password\n", "user", "add", "--username", "olga", "--role", "dispatcher")
	calipso(t, db, "second-password\n", "user", "passwd", "--username", "olga")
	calipso(t, db, "", "user", "disable", "--username", "olga")

	ctx := context.Background()
	st, err := store.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u, err := st.UserByUsername(ctx, "olga")
	if err != nil {
		t.Fatal(err)
	}
	if !u.Disabled || bcrypt.CompareHashAndPassword(u.PasswordHash, []byte("second-password")) != nil || u.SessionsNotBefore.IsZero() {
		t.Fatalf("after passwd and disable: %+v", u)
	}
	calipso(t, db, "", "user", "enable", "--username", "olga")
	if u, _ := st.UserByUsername(ctx, "olga"); u.Disabled {
		t.Fatal("still disabled after enable")
	}

	log, err := st.AuditLog(ctx, tracking.AuditFilter{Subject: "olga"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range log {
		got = append(got, e.Action+" by "+e.Username)
	}
	want := "user.enable by (command line)|user.disable by (command line)|user.password by (command line)|user.create by (command line)"
	if strings.Join(got, "|") != want {
		t.Fatalf("audit %q\nwant %q", got, want)
	}
}

func TestUserCommandsRefuseUnknownUsersAndCommands(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "c.db")
	var out bytes.Buffer
	err := run(context.Background(), []string{"user", "disable", "--username", "ghost"},
		env(map[string]string{"DATABASE_URL": db}), strings.NewReader(""), &out)
	if err == nil || !strings.Contains(err.Error(), `no user "ghost"`) {
		t.Fatalf("disable of an unknown user: %v", err)
	}
	err = run(context.Background(), []string{"user", "delete", "--username", "olga"}, env(nil), nil, &out)
	if !errors.Is(err, errUsage) {
		t.Fatalf("unknown sub-command: %v", err)
	}
}
