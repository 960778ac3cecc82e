package transport_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/funnelpipe/funnel/transport"
)

func TestValidateID(t *testing.T) {
	tests := []struct {
		id string
		ok bool
	}{
		{"a", true},
		{"job42/u/3/0007-0100", true},
		{"A.b_c-d/e", true},
		{"x..y", true},
		{strings.Repeat("a", 512), true},
		{"", false},
		{strings.Repeat("a", 513), false},
		{"/a", false},
		{"a/", false},
		{"a//b", false},
		{"a/./b", false},
		{"a/../b", false},
		{"..", false},
		{".", false},
		{"a b", false},
		{"a\x00", false},
		{"é", false},
		{"a?b", false},
		{"a%2F", false},
	}
	for _, tt := range tests {
		err := transport.ValidateID(tt.id)
		if tt.ok {
			assert.NoError(t, err, "%q", tt.id)
		} else {
			assert.ErrorIs(t, err, transport.ErrBadName, "%q", tt.id)
		}
	}
}

func TestValidateStorageName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"abc", true},
		{"funnel-units", true},
		{"a1-b2-c3", true},
		{"0ab", true},
		{strings.Repeat("a", 63), true},
		{"ab", false},
		{strings.Repeat("a", 64), false},
		{"-ab", false},
		{"ab-", false},
		{"a--b", false},
		{"Abc", false},
		{"a_b", false},
		{"a.b", false},
		{"", false},
	}
	for _, tt := range tests {
		err := transport.ValidateStorageName(tt.name)
		if tt.ok {
			assert.NoError(t, err, "%q", tt.name)
		} else {
			assert.ErrorIs(t, err, transport.ErrBadName, "%q", tt.name)
		}
	}
}

func TestValidatePrefix(t *testing.T) {
	for _, p := range []string{"", "funnel-", "f", "a-b-", strings.Repeat("a", 60)} {
		assert.NoError(t, transport.ValidatePrefix(p), "%q", p)
	}
	for _, p := range []string{"-", "Funnel-", "a--", "a_", strings.Repeat("a", 61)} {
		assert.ErrorIs(t, transport.ValidatePrefix(p), transport.ErrBadName, "%q", p)
	}
}

func TestStorageName(t *testing.T) {
	name, err := transport.StorageName("funnel-", "units")
	assert.NoError(t, err)
	assert.Equal(t, "funnel-units", name)
	for _, topic := range []string{"", "Units", "-x", "a_b", strings.Repeat("x", 60)} {
		_, err := transport.StorageName("funnel-", topic)
		assert.ErrorIs(t, err, transport.ErrBadName, "%q", topic)
	}
}

func FuzzValidateID(f *testing.F) {
	for _, s := range []string{"job42/u/3/0007-0100", "a//b", "../x", "a.", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if transport.ValidateID(id) != nil {
			return
		}
		// A valid ID is a safe, non-empty relative path of allowed bytes.
		if len(id) == 0 || len(id) > transport.MaxIDLen || strings.HasPrefix(id, "/") || strings.HasSuffix(id, "/") {
			t.Fatalf("accepted %q", id)
		}
		for _, seg := range strings.Split(id, "/") {
			if seg == "" || seg == "." || seg == ".." {
				t.Fatalf("accepted %q with segment %q", id, seg)
			}
		}
	})
}

func TestValidateMessages(t *testing.T) {
	assert.NoError(t, transport.ValidateMessages(nil))
	assert.NoError(t, transport.ValidateMessages([]transport.Message{{ID: "j/u/1", Body: []byte("x")}, {ID: "j/u/2"}}))
	assert.ErrorIs(t, transport.ValidateMessages([]transport.Message{{ID: "ok"}, {ID: "../x"}}), transport.ErrBadName)
	err := transport.ValidateMessages([]transport.Message{{ID: "big", Body: make([]byte, transport.MaxBody+1)}})
	assert.ErrorIs(t, err, transport.ErrTooLarge)
	assert.ErrorContains(t, err, "message big")
}
