package job

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// A partials message carries the partials of one or more units of one job
// (aggregate sends the partials of units that finish together in one
// message). Its ID lists the units, so that it stays deterministic: the
// same units give the same ID, and a receiver that finds the body gone, or
// a poison handler, still knows which units the message held.
//
//	one unit:      <job>/p/000007             body: a PartialMsg object
//	several units: <job>/p/000003.000005.000007  body: a JSON array of them
//
// A receiver applies each unit of a message exactly once whatever other
// messages held it: a unit may travel alone and again in a batch (its
// first send failed half-way and the retry joined others).

// MaxBatchUnits is the most units one partials message carries: it keeps
// the ID short and, with MaxBatchBytes, the message within one queue
// message.
const MaxBatchUnits = 16

// MaxBatchBytes bounds the encoded body of a batch, well under what a queue
// message carries inline (48 KiB before base64), so that a batch never
// needs an overflow blob. A single partial may be larger (its samples).
const MaxBatchBytes = 40 << 10

// PartialsID is the message ID of a message carrying the partials of
// units of job: PartialID for one unit, the sorted indices joined by '.'
// for several. units must be distinct.
func PartialsID(job string, units []int) string {
	if len(units) == 1 {
		return PartialID(job, units[0])
	}
	sorted := slices.Sorted(slices.Values(units))
	var b strings.Builder
	b.WriteString(job)
	b.WriteString("/p/")
	for i, u := range sorted {
		if i > 0 {
			b.WriteByte('.')
		}
		fmt.Fprintf(&b, "%06d", u)
	}
	return b.String()
}

// ParseMessageUnits splits a unit, partial or partials message ID
// (UnitID, PartialID, PartialsID) into the job ID and the units it names,
// in increasing order; ok is false for any other ID.
func ParseMessageUnits(id string) (jobID string, units []int, ok bool) {
	parts := strings.Split(id, "/")
	if len(parts) != 3 || (parts[1] != "u" && parts[1] != "p") || parts[0] == "" {
		return "", nil, false
	}
	fields := strings.Split(parts[2], ".")
	if (parts[1] == "u" && len(fields) != 1) || len(fields) > MaxBatchUnits {
		return "", nil, false
	}
	for _, f := range fields {
		n, err := strconv.Atoi(f)
		if err != nil || n < 0 {
			return "", nil, false
		}
		if len(units) > 0 && n <= units[len(units)-1] {
			return "", nil, false
		}
		units = append(units, n)
	}
	return parts[0], units, true
}

// EncodePartials is the body of the message carrying ms, all of one job:
// one PartialMsg as an object, several as an array.
func EncodePartials(ms []*PartialMsg) ([]byte, error) {
	bodies := make([][]byte, len(ms))
	for i, m := range ms {
		b, err := json.Marshal(m)
		if err != nil {
			return nil, err
		}
		bodies[i] = b
	}
	return JoinPartials(bodies)
}

// JoinPartials is EncodePartials for partials already encoded one by one
// (json.Marshal of a PartialMsg each): a sender that measured each
// partial's size does not encode it again.
func JoinPartials(bodies [][]byte) ([]byte, error) {
	switch len(bodies) {
	case 0:
		return nil, errors.New("partials: no partial to encode")
	case 1:
		return bodies[0], nil
	}
	out := append([]byte{'['}, bytes.Join(bodies, []byte{','})...)
	return append(out, ']'), nil
}

// DecodePartials reads the body of the partials message id (see
// PartialsID) and checks that it holds exactly the units the ID names, of
// the job it names, each a valid partial.
func DecodePartials(id string, body []byte) ([]*PartialMsg, error) {
	jobID, units, ok := ParseMessageUnits(id)
	if !ok || !strings.Contains(id, "/p/") {
		return nil, fmt.Errorf("partials: %q is not a partials message ID", id)
	}
	var ms []*PartialMsg
	if b := bytes.TrimLeft(body, " \t\r\n"); len(b) > 0 && b[0] == '[' {
		if err := json.Unmarshal(b, &ms); err != nil {
			return nil, fmt.Errorf("partials: %w", err)
		}
	} else {
		var m PartialMsg
		if err := json.Unmarshal(body, &m); err != nil {
			return nil, fmt.Errorf("partials: %w", err)
		}
		ms = []*PartialMsg{&m}
	}
	if len(ms) != len(units) {
		return nil, fmt.Errorf("partials: message %s names %d units and carries %d partials", id, len(units), len(ms))
	}
	got := make([]int, len(ms))
	for i, m := range ms {
		if m == nil {
			return nil, fmt.Errorf("partials: message %s: partial %d is null", id, i)
		}
		if err := m.check(); err != nil {
			return nil, fmt.Errorf("partials: message %s: %w", id, err)
		}
		if m.Job != jobID {
			return nil, fmt.Errorf("partials: message %s carries a partial of job %s", id, m.Job)
		}
		got[i] = m.Index
	}
	slices.Sort(got)
	if !slices.Equal(got, units) {
		return nil, fmt.Errorf("partials: message %s carries the partials of %s", id, PartialsID(jobID, got))
	}
	return ms, nil
}
