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

const userUsage = `calipso user add --username U --role dispatcher|admin   (password from stdin)
calipso user passwd --username U                        (password from stdin; ends U's sessions)
calipso user disable --username U                       (ends U's sessions at once)
calipso user enable --username U`

// userCommand manages users from the command line. Passwords come from stdin so they never
// show in the process list or the shell history. Every change is audited as made by
// tracking.ActorCommandLine.
func userCommand(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w:\n%s", errUsage, userUsage)
	}
	ctx = tracking.WithActor(ctx, tracking.ActorCommandLine)
	var cfg config
	var name, role string
	fs := flag.NewFlagSet("user "+args[0], flag.ContinueOnError)
	cfg.flags(fs, getenv)
	fs.StringVar(&name, "username", "", "the user's name")
	switch args[0] {
	case "add":
		fs.StringVar(&role, "role", "dispatcher", "dispatcher or admin")
	case "passwd", "disable", "enable":
	default:
		return fmt.Errorf("%w: unknown user command %q:\n%s", errUsage, args[0], userUsage)
	}
	if err := parseFlags(fs, args[1:], stdout); err != nil {
		return err
	}
	if err := tracking.CheckUsername(name); err != nil {
		return fmt.Errorf("--username: %s", tracking.ErrorMessage(err))
	}
	var hash []byte
	if args[0] == "add" || args[0] == "passwd" {
		password, err := readPassword(stdin)
		if err != nil {
			return err
		}
		if hash, err = bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost); err != nil {
			return err
		}
	}
	if args[0] == "add" {
		r, err := tracking.ParseRole(role)
		if err != nil {
			return fmt.Errorf("--role: %s", tracking.ErrorMessage(err))
		}
		return addUser(ctx, cfg, name, r, hash, stdout)
	}

	st, err := openStore(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer st.Close()
	u, err := st.UserByUsername(ctx, name)
	if err != nil {
		if tracking.ErrorCode(err) == tracking.ENOTFOUND {
			return fmt.Errorf("no user %q", name)
		}
		return err
	}
	switch args[0] {
	case "passwd":
		err = st.SetPassword(ctx, u.ID, hash)
	case "disable":
		err = st.SetDisabled(ctx, u.ID, true)
	case "enable":
		err = st.SetDisabled(ctx, u.ID, false)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "user %s: %s done\n", u.Username, args[0])
	return nil
}

func addUser(ctx context.Context, cfg config, name string, role tracking.Role, hash []byte, stdout io.Writer) error {
	st, err := openStore(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer st.Close()
	u, err := st.CreateUser(ctx, name, role, hash)
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
