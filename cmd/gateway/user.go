package main

// The web UI's users: gateway user add, list, disable, reset-password
// (package web/account keeps them in the catalog).

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sharedmedcard/gateway/medcard"
	"github.com/sharedmedcard/gateway/web/account"
)

func userCommands() []command {
	return []command{
		{"add", "add a UI user acting for a pharmacy: add NAME --organisation ORG", runUserAdd},
		{"list", "list the UI users, disabled and locked-out ones marked", runUserList},
		{"disable", "disable a user and end their sessions (--enable undoes it): disable NAME", runUserDisable},
		{"reset-password", "give a user a new password, lift any back-off, end their sessions: reset-password NAME", runUserResetPassword},
	}
}

func runUser(ctx context.Context, args []string) error {
	names := make([]string, 0, len(userCommands()))
	for _, c := range userCommands() {
		names = append(names, c.name)
	}
	if len(args) == 0 {
		return fmt.Errorf("user: name a subcommand: %s ('gateway user --help' tells what each does)", strings.Join(names, ", "))
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		var b strings.Builder
		b.WriteString("Usage: gateway user <subcommand> [arguments] [flags]\n\nThe users of the pharmacists' web UI, kept in the catalog.\n\nSubcommands:\n")
		for _, c := range userCommands() {
			fmt.Fprintf(&b, "  %-15s %s\n", c.name, c.summary)
		}
		b.WriteString("\nRun 'gateway user <subcommand> --help' for its arguments and flags.")
		fmt.Println(b.String())
		return nil
	}
	for _, c := range userCommands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:])
		}
	}
	return fmt.Errorf("user: unknown subcommand %q (%s)", args[0], strings.Join(names, ", "))
}

// userFlags are the flags every user subcommand has.
type userFlags struct {
	catalogDSN    string
	asJSON        bool
	passwordStdin bool
}

func newUserFlags(name, synopsis string, uf *userFlags, withPassword bool) flags {
	f := newFlags(name, synopsis)
	f.catalogDSN(&uf.catalogDSN)
	f.BoolVar(&uf.asJSON, "json", false, "print JSON instead of text")
	if withPassword {
		f.BoolVar(&uf.passwordStdin, "password-stdin", false,
			fmt.Sprintf("read the password from the first line of stdin (at least %d characters); without it one is made up and printed once", account.MinPasswordLength))
	}
	return f
}

// open connects to the catalog.
func (uf *userFlags) open(ctx context.Context) (*account.Store, func(), error) {
	if err := requireCatalog(uf.catalogDSN); err != nil {
		return nil, nil, err
	}
	pool, err := pgxpool.New(ctx, uf.catalogDSN)
	if err != nil {
		return nil, nil, err
	}
	return account.NewStore(pool, account.Options{}), pool.Close, nil
}

// password is the password to set: from stdin with --password-stdin,
// otherwise made up (generated says so, to print it).
func (uf *userFlags) password() (pw string, generated bool, err error) {
	if !uf.passwordStdin {
		return madeUpPassword(), true, nil
	}
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil && line == "" {
		return "", false, fmt.Errorf("--password-stdin: no password on stdin: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), false, nil
}

// madeUpPassword is 20 random characters from an alphabet without look-alikes.
func madeUpPassword() string {
	const alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// userRefused explains a refusal of the account store, with what to do.
func userRefused(err error, name string) error {
	switch {
	case errors.Is(err, account.ErrNoSuchUser):
		return fmt.Errorf("%w %q ('gateway user list' shows them)", err, name)
	case errors.Is(err, account.ErrUserExists):
		return fmt.Errorf("%w: %q ('gateway user reset-password %s' gives it a new password)", err, name, name)
	}
	return err
}

func runUserAdd(ctx context.Context, args []string) error {
	var uf userFlags
	var org, role string
	f := newUserFlags("user add NAME", "Adds a user of the web UI who acts for pharmacy --organisation in --role. Every look-up\n"+
		"and change they make is audited with their name and that organisation.", &uf, true)
	f.StringVar(&org, "organisation", "", "the organisation (pharmacy) the user acts for, as integrating systems name it (required)")
	f.StringVar(&role, "role", string(medcard.RolePharmacist), "the user's role: Pharmacist, Doctor or Nurse")
	pos, err := f.parseArgs(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("user add: name the user: gateway user add NAME --organisation ORG")
	}
	if org == "" {
		return errors.New("user add: --organisation is required: the pharmacy the user acts for")
	}
	store, closeStore, err := uf.open(ctx)
	if err != nil {
		return err
	}
	defer closeStore()
	pw, generated, err := uf.password()
	if err != nil {
		return err
	}
	u := account.User{Name: pos[0], Organisation: org, Role: medcard.Role(role)}
	if err := store.AddUser(ctx, u, pw); err != nil {
		return userRefused(err, u.Name)
	}
	return printPassword(uf, u.Name, "added", pw, generated)
}

// printPassword reports a password set, showing it only if made up here.
func printPassword(uf userFlags, name, what, pw string, generated bool) error {
	if uf.asJSON {
		out := map[string]string{"user": name, "result": what}
		if generated {
			out["password"] = pw
		}
		return writeJSON(out)
	}
	fmt.Printf("user %s %s\n", name, what)
	if generated {
		fmt.Printf("password: %s\n(shown once; hand it over safely. 'gateway user reset-password %s' sets a new one.)\n", pw, name)
	}
	return nil
}

func runUserList(ctx context.Context, args []string) error {
	var uf userFlags
	f := newUserFlags("user list", "Lists the web UI's users: organisation, role, whether disabled, and the end of a back-off\nafter wrong passwords.", &uf, false)
	if _, err := f.parseArgs(args); err != nil {
		return err
	}
	store, closeStore, err := uf.open(ctx)
	if err != nil {
		return err
	}
	defer closeStore()
	users, err := store.Users(ctx)
	if err != nil {
		return err
	}
	if uf.asJSON {
		if users == nil {
			users = []account.User{}
		}
		return writeJSON(users)
	}
	if len(users) == 0 {
		fmt.Println("no UI users yet: 'gateway user add NAME --organisation ORG' adds one")
		return nil
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tORGANISATION\tROLE\tSTATE\tCREATED")
	for _, u := range users {
		state := "active"
		switch {
		case u.Disabled:
			state = "disabled"
		case u.LockedUntil != nil:
			state = "locked out until " + u.LockedUntil.Local().Format(time.TimeOnly)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.Name, u.Organisation, u.Role, state, u.CreatedAt.Local().Format(time.DateOnly))
	}
	return tw.Flush()
}

func runUserDisable(ctx context.Context, args []string) error {
	var uf userFlags
	var enable bool
	f := newUserFlags("user disable NAME", "Disables a web UI user: they cannot sign in, and their sessions end at once.", &uf, false)
	f.BoolVar(&enable, "enable", false, "enable the user again instead")
	pos, err := f.parseArgs(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("user disable: name the user: gateway user disable NAME")
	}
	store, closeStore, err := uf.open(ctx)
	if err != nil {
		return err
	}
	defer closeStore()
	if err := store.SetDisabled(ctx, pos[0], !enable); err != nil {
		return userRefused(err, pos[0])
	}
	what := "disabled; their sessions ended"
	if enable {
		what = "enabled"
	}
	if uf.asJSON {
		return writeJSON(map[string]string{"user": pos[0], "result": what})
	}
	fmt.Printf("user %s %s\n", pos[0], what)
	return nil
}

func runUserResetPassword(ctx context.Context, args []string) error {
	var uf userFlags
	f := newUserFlags("user reset-password NAME", "Gives a web UI user a new password, lifts any back-off after wrong passwords and ends\ntheir sessions.", &uf, true)
	pos, err := f.parseArgs(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("user reset-password: name the user: gateway user reset-password NAME")
	}
	store, closeStore, err := uf.open(ctx)
	if err != nil {
		return err
	}
	defer closeStore()
	pw, generated, err := uf.password()
	if err != nil {
		return err
	}
	if err := store.ResetPassword(ctx, pos[0], pw); err != nil {
		return userRefused(err, pos[0])
	}
	return printPassword(uf, pos[0], "has a new password; their sessions ended", pw, generated)
}
