package llmhttp

import (
	"errors"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestDefaultClassify(t *testing.T) {
	resp := func(status int, header ...string) *http.Response {
		h := http.Header{}
		for i := 0; i+1 < len(header); i += 2 {
			h.Set(header[i], header[i+1])
		}
		return &http.Response{StatusCode: status, Header: h}
	}
	retryCounted := Decision{Retry: true, Failure: true}
	tests := []struct {
		name string
		a    Attempt
		want Decision
	}{
		{"connection error", Attempt{Err: errors.New("connection reset")}, retryCounted},
		{"200", Attempt{Response: resp(200)}, Decision{}},
		{"301", Attempt{Response: resp(301)}, Decision{}},
		{"408", Attempt{Response: resp(408)}, retryCounted},
		{"409", Attempt{Response: resp(409)}, retryCounted},
		{"500", Attempt{Response: resp(500)}, retryCounted},
		{"501", Attempt{Response: resp(501)}, retryCounted},
		{"529", Attempt{Response: resp(529)}, retryCounted},
		{"429", Attempt{Response: resp(429), Body: []byte(rateBody)}, Decision{Retry: true}},
		{"429 quota", Attempt{Response: resp(429), Body: []byte(quotaBody)}, Decision{Quota: true}},
		{"402 billing", Attempt{Response: resp(402), Body: []byte(`{"error":{"code":"billing_hard_limit_reached"}}`)}, Decision{Quota: true}},
		{"400 credit", Attempt{Response: resp(400), Body: []byte(creditBody)}, Decision{Quota: true}},
		{"400", Attempt{Response: resp(400), Body: []byte(ctxLenBody)}, Decision{}},
		{"401", Attempt{Response: resp(401)}, Decision{}},
		{"403 quota words do not trip", Attempt{Response: resp(403), Body: []byte(quotaBody)}, Decision{}},
		{"404", Attempt{Response: resp(404)}, Decision{}},
		{"413", Attempt{Response: resp(413)}, Decision{}},
		{"422", Attempt{Response: resp(422)}, Decision{}},
		{"500 x-should-retry false", Attempt{Response: resp(500, "x-should-retry", "false")}, Decision{Failure: true}},
		{"400 x-should-retry TRUE", Attempt{Response: resp(400, "x-should-retry", " TRUE ")}, Decision{Retry: true}},
		{"503 x-should-retry junk", Attempt{Response: resp(503, "x-should-retry", "maybe")}, retryCounted},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, DefaultClassify(tt.a), tt.name)
	}
}

func TestNewAPIError(t *testing.T) {
	tests := []struct {
		name string
		body string
		want APIError
	}{
		{"OpenAI", ctxLenBody, APIError{Status: 400, Type: "invalid_request_error", Code: "context_length_exceeded", Message: "maximum context length is 128000 tokens"}},
		{"Anthropic", overloadAnt, APIError{Status: 400, Type: "overloaded_error", Message: "Overloaded"}},
		{"numeric code", `{"error":{"code":429,"message":"slow down"}}`, APIError{Status: 400, Code: "429", Message: "slow down"}},
		{"null code", `{"error":{"code":null,"type":"server_error"}}`, APIError{Status: 400, Type: "server_error"}},
		{"string error", `{"error":"upstream exploded"}`, APIError{Status: 400, Message: "upstream exploded"}},
		{"not JSON", `<html>502 Bad Gateway</html>`, APIError{Status: 400}},
		{"empty", ``, APIError{Status: 400}},
	}
	for _, tt := range tests {
		r := &http.Response{StatusCode: 400}
		got := newAPIError(r, []byte(tt.body))
		tt.want.resp = r
		assert.Equal(t, &tt.want, got, tt.name)
	}
	e := &APIError{Status: 429, Type: "rate_limit_error", Message: "slow down", Attempts: 3}
	assert.Equal(t, "llmhttp: HTTP 429 Too Many Requests: rate_limit_error: slow down (3 attempt(s))", e.Error())
	assert.Equal(t, "llmhttp: HTTP 599", (&APIError{Status: 599}).Error())
}
