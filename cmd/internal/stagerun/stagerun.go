// Package stagerun builds what every funnel handler binary needs from its
// environment (the Functions app settings): the storage account, the queue
// and blob transports, the job store, the handlers App, and the server.
//
// Settings read:
//
//	AzureWebJobsStorage               connection string (local, Azurite), or
//	AzureWebJobsStorage__*            an identity in Azure: __accountName (or
//	                                  __blobServiceUri and __queueServiceUri),
//	                                  __credential, __clientId,
//	                                  __managedIdentityResourceId, ... as the
//	                                  host reads them (account.FromEnv)
//	FUNNEL_PREFIX                     prefix of queue and container names (default "funnel-");
//	                                  the function.json files name their trigger queues
//	                                  and containers with it ("%FUNNEL_PREFIX%units")
//	FUNNEL_JOBS_CONTAINER             container of job records (default "funnel")
//	FUNNEL_INPUT_CONTAINERS           partition only: the input containers jobs may read (default "input")
//	FUNCTIONS_CUSTOMHANDLER_PORT      set by the host: where to listen
//	FUNNEL_METRICS_ADDR               optional: serve Prometheus metrics there
package stagerun

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/funnelpipe/funnel/handlers"
	"github.com/funnelpipe/funnel/job"
	"github.com/funnelpipe/funnel/transport"
	"github.com/funnelpipe/funnel/transport/account"
	"github.com/funnelpipe/funnel/transport/blob"
	"github.com/funnelpipe/funnel/transport/queue"
)

// Config is a stage binary's configuration.
type Config struct {
	App           string // "partition", "aggregate" or "merge"
	Storage       account.Config
	Prefix        string
	JobsContainer string
	Serve         handlers.ServeConfig
}

// FromEnv reads a Config from app settings.
func FromEnv(app string, getenv func(string) string) (Config, error) {
	st, err := account.FromEnv(getenv, account.DefaultConnection)
	if err != nil {
		return Config{}, err
	}
	sc, err := handlers.ConfigFromEnv(getenv)
	if err != nil {
		return Config{}, err
	}
	cfg := Config{App: app, Storage: st, Prefix: getenv("FUNNEL_PREFIX"), JobsContainer: getenv("FUNNEL_JOBS_CONTAINER"), Serve: sc}
	if cfg.Prefix == "" {
		cfg.Prefix = transport.DefaultPrefix
	}
	if cfg.JobsContainer == "" {
		cfg.JobsContainer = job.DefaultContainer
	}
	return cfg, nil
}

// Env is what a stage's functions are built from.
type Env struct {
	// Prefix is the transports' queue and container name prefix.
	Prefix string
	// JobsContainer holds the job records.
	JobsContainer string
	Account       *account.Account
	Transports    map[string]transport.Transport
	Store         job.Store
	App           *handlers.App
	Log           *slog.Logger
}

// A handler's storage requests are retried for longer than the account's
// default (3 retries, about 2 s of waiting): a blob-triggered invocation that fails
// is retried by the host at once, without delay (the host's blob-trigger
// queue has no visibility timeout), so its 5 tries span only what the
// requests themselves wait, and a storage outage of a few seconds — an
// Azurite restart, a storage front end failing over — would poison the
// unit, or, when the host cannot release its message either, hide it for
// the rest of its 10-minute lease (the e2e campaign's Azurite kill found
// this on the blob transport). Six retries, the SDK's delays growing from
// 200 ms and capped at 4 s, wait about 13 s (12 s at the least, with its
// jitter) before a request fails; a request that fails for good (403, 404,
// 412) is not retried at all.
const (
	StorageMaxRetries    = 6
	StorageRetryDelay    = 200 * time.Millisecond
	StorageMaxRetryDelay = 4 * time.Second
)

// StorageOptions are the account options of a handler binary.
func StorageOptions(reg prometheus.Registerer, app string) account.Options {
	return account.Options{Registerer: reg, Component: app, MaxRetries: StorageMaxRetries,
		RetryDelay: StorageRetryDelay, MaxRetryDelay: StorageMaxRetryDelay}
}

// Open connects to storage and builds the transports and the App.
func Open(cfg Config, log *slog.Logger) (*Env, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	acct, err := account.Open(cfg.Storage, StorageOptions(reg, cfg.App))
	if err != nil {
		return nil, err
	}
	q, err := queue.New(acct, queue.Options{Prefix: cfg.Prefix})
	if err != nil {
		return nil, err
	}
	b, err := blob.New(acct, blob.Options{Prefix: cfg.Prefix})
	if err != nil {
		return nil, err
	}
	return &Env{
		Prefix:        cfg.Prefix,
		JobsContainer: cfg.JobsContainer,
		Account:       acct,
		Transports:    map[string]transport.Transport{q.Name(): q, b.Name(): b},
		Store:         job.NewBlobStore(acct.Blob(), cfg.JobsContainer),
		App:           handlers.NewApp(handlers.Options{Name: cfg.App, Logger: log, Registerer: reg}),
		Log:           log,
	}, nil
}

// Main runs a stage binary: read the settings, build the Env, let register
// add the stage's functions, and serve until SIGTERM or SIGINT. It returns
// the process exit code.
func Main(app string, register func(*Env) error) int {
	// The host logs a handler's stdout as information and its stderr as errors.
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil)).With("app", app)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, app, os.Getenv, log, register); err != nil {
		log.Error("exit", "err", err)
		return 1
	}
	return 0
}

func run(ctx context.Context, app string, getenv func(string) string, log *slog.Logger, register func(*Env) error) error {
	cfg, err := FromEnv(app, getenv)
	if err != nil {
		return fmt.Errorf("%s: %w", app, err)
	}
	env, err := Open(cfg, log)
	if err != nil {
		return fmt.Errorf("%s: %w", app, err)
	}
	defer env.Account.Close()
	if err := register(env); err != nil {
		return fmt.Errorf("%s: %w", app, err)
	}
	return handlers.Serve(ctx, env.App, cfg.Serve)
}

// Window reads the app setting name, a wait of 0 to 1m written as a Go
// duration ("500ms"); empty means def.
func Window(name, v string, def time.Duration) (time.Duration, error) {
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 || d > time.Minute {
		return 0, fmt.Errorf("%s %q: want a duration from 0 to 1m, like 500ms", name, v)
	}
	return d, nil
}
