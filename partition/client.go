package partition

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/funnelpipe/funnel/job"
)

// Client calls the job API over HTTP.
type Client struct {
	// BaseURL is the partition app's URL including the route prefix, for
	// example http://127.0.0.1:7071/api.
	BaseURL string
	// Key, if set, is sent as the x-functions-key header (authLevel
	// function in Azure).
	Key  string
	HTTP *http.Client
}

// APIError is a non-2xx answer of the job API.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string { return fmt.Sprintf("job API: %d: %s", e.Status, e.Message) }

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

func (c *Client) do(ctx context.Context, method, path string, body []byte, out any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.BaseURL, "/")+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Key != "" {
		req.Header.Set("x-functions-key", c.Key)
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("job API: read answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		msg := strings.TrimSpace(string(data))
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		return nil, &APIError{Status: resp.StatusCode, Message: msg}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return nil, fmt.Errorf("job API: bad answer: %w", err)
		}
	}
	return data, nil
}

// submitTries bounds how often Submit sends a job with an ID.
const submitTries = 3

// Submit submits a job and returns its ID. A spec with an ID is sent again,
// up to three times, when the request failed in transit or the API
// answered 5xx: resubmitting the same spec under the same ID is idempotent,
// so a submit whose answer was lost is not a second job. A spec without an
// ID (the API picks one) is sent once.
func (c *Client) Submit(ctx context.Context, spec job.Spec) (string, error) {
	body, err := json.Marshal(spec)
	if err != nil {
		return "", err
	}
	var ans submitAnswer
	for try := 1; ; try++ {
		_, err = c.do(ctx, http.MethodPost, "/jobs", body, &ans)
		var apiErr *APIError
		retryable := err != nil && ctx.Err() == nil && (!errors.As(err, &apiErr) || apiErr.Status >= 500)
		if !retryable || spec.ID == "" || try == submitTries {
			break
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(time.Duration(try) * time.Second):
		}
	}
	if err != nil {
		return "", err
	}
	return ans.ID, nil
}

// Status returns a job's status.
func (c *Client) Status(ctx context.Context, id string) (*job.Status, error) {
	var st job.Status
	if _, err := c.do(ctx, http.MethodGet, "/jobs/"+url.PathEscape(id), nil, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// RetryAnswer is what the job API answers a retry with.
type RetryAnswer = retryAnswer

// Retry asks the job API to retry a failed job: the units that never
// landed are sent again. It returns the answer (the job's state and how
// many units were sent).
func (c *Client) Retry(ctx context.Context, id string) (*RetryAnswer, error) {
	var ans RetryAnswer
	if _, err := c.do(ctx, http.MethodPost, "/jobs/"+url.PathEscape(id)+"/retry", nil, &ans); err != nil {
		return nil, err
	}
	return &ans, nil
}

// Result returns a finished job's result, format "json" or "csv".
func (c *Client) Result(ctx context.Context, id, format string) ([]byte, error) {
	return c.do(ctx, http.MethodGet, "/jobs/"+url.PathEscape(id)+"/result?format="+url.QueryEscape(format), nil, nil)
}

// ErrJobFailed is returned by Wait for a job that failed.
var ErrJobFailed = errors.New("job failed")

// Wait polls a job's status every interval until it is done or failed,
// calling progress (if not nil) with each status. It returns the final
// status; a failed job also gives an error wrapping ErrJobFailed.
func (c *Client) Wait(ctx context.Context, id string, interval time.Duration, progress func(*job.Status)) (*job.Status, error) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		st, err := c.Status(ctx, id)
		if err != nil {
			return nil, err
		}
		if progress != nil {
			progress(st)
		}
		switch st.State {
		case job.Done:
			return st, nil
		case job.Failed:
			return st, fmt.Errorf("job %s: %w: %s", id, ErrJobFailed, st.Failure)
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-t.C:
		}
	}
}
