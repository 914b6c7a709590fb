package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"calipso/tracking"
)

// userCommand is "calipso user add --username U --role R", with the password on stdin so it
// never shows in the process list or the shell history.
func userCommand(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "add" {
		return fmt.Errorf("%w: calipso user add --username U --role dispatcher|admin", errUsage)
	}
	var cfg config
	var name, role string
	fs := flag.NewFlagSet("user add", flag.ContinueOnError)
	cfg.flags(fs, getenv)
	fs.StringVar(&name, "username", "", "the new user's name")
	fs.StringVar(&role, "role", "dispatcher", "dispatcher or admin")
	if err := parseFlags(fs, args[1:], stdout); err != nil {
		return err
	}
	if err := tracking.CheckUsername(name); err != nil {
		return fmt.Errorf("--username: %s", tracking.ErrorMessage(err))
	}
	r, err := tracking.ParseRole(role)
	if err != nil {
		return fmt.Errorf("--role: %s", tracking.ErrorMessage(err))
	}
	password, err := readPassword(stdin)
	if err != nil {
		return err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer st.Close()
	u, err := st.CreateUser(ctx, name, r, hash)
	if err != nil {
		if tracking.ErrorCode(err) == tracking.ECONFLICT {
			return fmt.Errorf("user %q already exists", name)
		}
		return err
	}
	fmt.Fprintf(stdout, "user %s added with role %s\n", u.Username, u.Role)
	return nil
}

// readPassword reads the first line of stdin, without its line ending.
func readPassword(stdin io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(stdin, 1024)).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("reading the password from stdin: %w", err)
	}
	password := strings.TrimRight(line, "\r\n")
	if err := tracking.CheckPassword(password); err != nil {
		return "", fmt.Errorf("password (from stdin): %s", tracking.ErrorMessage(err))
	}
	return password, nil
}
