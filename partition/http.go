package partition

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/funnelpipe/funnel/handlers"
	"github.com/funnelpipe/funnel/job"
	"github.com/funnelpipe/funnel/storage"
)

// Register adds the job API's functions to app:
//
//	Jobs       POST /api/jobs                  submit (202 once the spec is
//	                                           stored, or 400/403/409); its
//	                                           queue output "plan" asks Plan
//	                                           to plan the job
//	JobStatus  GET  /api/jobs/{id}             status (200, or 404)
//	JobResult  GET  /api/jobs/{id}/result      result, ?format=json|csv
//	                                           (200; 404 unknown; 409 not done)
//	JobRetry   POST /api/jobs/{id}/retry       retry a failed job (202; 404
//	                                           unknown; 409 not failed)
//	Plan                                       queue trigger on <prefix>plans:
//	                                           plans a job and sends its units
//	PlansPoison                                queue trigger on
//	                                           <prefix>plans-poison: fails the
//	                                           job of a poisoned plan message
//
// A malformed job ID is a 400; an input container the policy refuses, a
// 403. Their function.json files are in partition/functions.
func (s *Service) Register(app *handlers.App) {
	app.Handle("Jobs", s.handleSubmit, handlers.HTTPOutput("res"))
	app.Handle("JobStatus", s.handleStatus, handlers.HTTPOutput("res"))
	app.Handle("JobResult", s.handleResult, handlers.HTTPOutput("res"))
	app.Handle("JobRetry", s.handleRetry, handlers.HTTPOutput("res"))
	app.Handle("Plan", s.handlePlan)
	app.Handle("PlansPoison", s.handlePlanPoison)
}

// retryAnswer is the body of a 202 answer to a retry.
type retryAnswer struct {
	ID        string    `json:"id"`
	State     job.State `json:"state"`
	Resent    int       `json:"resent"`
	Attempts  int       `json:"failed_attempts"`
	StatusURL string    `json:"status_url"`
}

func (s *Service) handleRetry(ctx context.Context, inv *handlers.Invocation) (*handlers.Response, error) {
	req, err := inv.HTTPRequest("req")
	if err != nil {
		return nil, handlers.BadRequest(err.Error())
	}
	id := req.Params["id"]
	rec, n, err := s.Retry(ctx, id)
	if err != nil {
		return nil, lookupError(id, err)
	}
	status := strings.TrimSuffix(jobsURL(req.URL), "/retry")
	return httpAnswer(http.StatusAccepted, retryAnswer{ID: id, State: rec.State, Resent: n, Attempts: len(rec.Attempts), StatusURL: status}, nil)
}

// checkBodySize refuses a request body over job.MaxRequest from the size of
// its raw JSON value, before the body is decoded and copied. A JSON string
// only shrinks when decoded (an escape of 2-6 characters gives 1-3 bytes,
// base64 gives 3 bytes for 4), so a raw value of at most the limit is
// within it, and one over six times the limit cannot be; in between the
// decoded size decides.
func checkBodySize(raw int) error {
	if raw > 6*job.MaxRequest+2 {
		return handlers.BadRequest(fmt.Sprintf("request body of more than %d bytes is over the limit of %d", 6*job.MaxRequest, job.MaxRequest))
	}
	return nil
}

// submitAnswer is the body of a 202 answer to a submit.
type submitAnswer struct {
	ID    string    `json:"id"`
	State job.State `json:"state"`
	// Units is 0 until the job is planned: the answer comes before that.
	Units     int    `json:"units"`
	StatusURL string `json:"status_url"`
	ResultURL string `json:"result_url"`
}

func (s *Service) handleSubmit(ctx context.Context, inv *handlers.Invocation) (*handlers.Response, error) {
	req, err := inv.HTTPRequest("req")
	if err != nil {
		return nil, handlers.BadRequest(err.Error())
	}
	if err := checkBodySize(len(req.Body)); err != nil {
		return nil, err
	}
	body, err := req.BodyBytes()
	if err != nil {
		return nil, handlers.BadRequest("cannot read the request body: " + err.Error())
	}
	if len(body) > job.MaxRequest {
		return nil, handlers.BadRequest(fmt.Sprintf("request body of %d bytes is over the limit of %d", len(body), job.MaxRequest))
	}
	spec, err := job.DecodeSpec(body)
	if err != nil {
		return nil, handlers.BadRequest(err.Error())
	}
	rec, err := s.Submit(ctx, spec)
	switch {
	case errors.Is(err, job.ErrInvalid):
		return nil, handlers.BadRequest(err.Error())
	case errors.Is(err, ErrInputRefused):
		return nil, &handlers.HTTPError{Status: http.StatusForbidden, Message: err.Error()}
	case errors.Is(err, job.ErrExists):
		return nil, &handlers.HTTPError{Status: http.StatusConflict, Message: err.Error()}
	case err != nil:
		return nil, err
	}
	base := jobsURL(req.URL) + "/" + rec.Spec.ID
	ans := submitAnswer{ID: rec.Spec.ID, State: rec.State, StatusURL: base, ResultURL: base + "/result"}
	if rec.Plan != nil {
		ans.Units = rec.Plan.Units
	}
	resp, err := httpAnswer(http.StatusAccepted, ans, map[string]string{"Location": base})
	if err != nil {
		return nil, err
	}
	if NeedsPlan(rec) {
		// The host writes it before it answers the request; should that
		// fail, the request fails (500) and the client resubmits, which
		// asks again; the reconciler plans a job whose message never came.
		resp.AddQueue("plan", planMessage(rec.Spec.ID))
	}
	return resp, nil
}

func (s *Service) handleStatus(ctx context.Context, inv *handlers.Invocation) (*handlers.Response, error) {
	req, err := inv.HTTPRequest("req")
	if err != nil {
		return nil, handlers.BadRequest(err.Error())
	}
	st, err := s.Status(ctx, req.Params["id"])
	if err != nil {
		return nil, lookupError(req.Params["id"], err)
	}
	return httpAnswer(http.StatusOK, st, nil)
}

func (s *Service) handleResult(ctx context.Context, inv *handlers.Invocation) (*handlers.Response, error) {
	req, err := inv.HTTPRequest("req")
	if err != nil {
		return nil, handlers.BadRequest(err.Error())
	}
	format := req.Query["format"]
	switch format {
	case "":
		format = "json"
	case "json", "csv":
	default:
		return nil, handlers.BadRequest(fmt.Sprintf("format %q: use json or csv", format))
	}
	data, err := s.Result(ctx, req.Params["id"], format)
	if err != nil {
		return nil, lookupError(req.Params["id"], err)
	}
	ctype := "application/json"
	if format == "csv" {
		ctype = "text/csv; charset=utf-8"
	}
	resp := handlers.NewResponse()
	if err := resp.SetHTTP("res", handlers.HTTPResponse{StatusCode: http.StatusOK, Headers: map[string]string{"Content-Type": ctype}, Body: string(data)}); err != nil {
		return nil, err
	}
	return resp, nil
}

func lookupError(id string, err error) error {
	switch {
	case errors.Is(err, job.ErrInvalid):
		return handlers.BadRequest(err.Error())
	case errors.Is(err, storage.ErrNotFound):
		return &handlers.HTTPError{Status: http.StatusNotFound, Message: fmt.Sprintf("no job %q", id)}
	case errors.Is(err, ErrNotDone), errors.Is(err, job.ErrNotRetryable):
		return &handlers.HTTPError{Status: http.StatusConflict, Message: err.Error()}
	}
	return err
}

func httpAnswer(status int, body any, headers map[string]string) (*handlers.Response, error) {
	resp := handlers.NewResponse()
	if err := resp.SetHTTP("res", handlers.HTTPResponse{StatusCode: status, Headers: headers, Body: body}); err != nil {
		return nil, err
	}
	return resp, nil
}

// jobsURL turns the submit request's URL into the jobs collection's URL.
func jobsURL(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	return strings.TrimSuffix(u, "/")
}
