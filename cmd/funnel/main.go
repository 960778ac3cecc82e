// Command funnel is the user's entry point to the funnel pipeline: it
// generates and splits TPC-H data, computes reference answers, runs the
// local Functions host, and submits and watches jobs.
//
// Usage:
//
//	funnel <command> [flags] [arguments]
//
// Run "funnel help" for the list of commands and "funnel <command> -h" for
// the flags of one.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// env is what a command may touch of the outside world, passed in so that
// commands are testable.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
}

// command is one subcommand.
type command struct {
	short string // one line for "funnel help"
	run   func(ctx context.Context, e env, args []string) error
}

// errUsage marks an error that is the caller's fault; main prints usage hints
// and exits 2 for it.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	e := env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}
	err := run(ctx, e, os.Args[1:])
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "funnel:", err)
		}
		if errors.Is(err, errUsage) || errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, e env, args []string) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printHelp(e.stdout)
		if len(args) == 0 {
			return fmt.Errorf("%w: no command given", errUsage)
		}
		return nil
	}
	cmd, ok := commands()[args[0]]
	if !ok {
		return fmt.Errorf("%w: unknown command %q (run \"funnel help\")", errUsage, args[0])
	}
	return cmd.run(ctx, e, args[1:])
}

func printHelp(w io.Writer) {
	fmt.Fprint(w, "funnel runs the funnel data pipeline.\n\nUsage:\n\n\tfunnel <command> [flags] [arguments]\n\nThe commands are:\n\n")
	cmds := commands()
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "\t%-10s %s\n", n, cmds[n].short)
	}
	fmt.Fprint(w, "\nUse \"funnel <command> -h\" for the flags of a command.\n")
}

// newFlagSet returns a flag set for a subcommand that reports errors instead
// of exiting, writing its usage to e.stderr.
func newFlagSet(e env, name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "usage: funnel %s %s\n", name, usage)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args and turns a flag error into errUsage.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	return nil
}
