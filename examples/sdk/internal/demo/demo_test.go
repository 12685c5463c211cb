package demo

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/resilience-go/resilience"
	"github.com/resilience-go/resilience/llmhttp"
	"github.com/stretchr/testify/assert"
)

func TestSentAttempts(t *testing.T) {
	withHeader := &http.Response{Header: http.Header{llmhttp.AttemptsHeader: {"3"}}}
	tests := []struct {
		name string
		resp *http.Response
		err  error
		want int
	}{
		{"response with the transport's count", withHeader, nil, 3},
		{"response from elsewhere", &http.Response{Header: http.Header{}}, nil, 0},
		{"retries ended on a sent attempt", nil, &resilience.RetryError{Attempts: 2, Last: errors.New("conn reset")}, 2},
		{"the breaker rejected the last attempt", nil,
			fmt.Errorf("sdk: %w", &resilience.RetryError{Attempts: 3, Last: fmt.Errorf("x: %w", resilience.ErrOpen)}), 2},
		{"rejected at once", nil, &resilience.RetryError{Attempts: 1, Last: resilience.ErrOpen}, 0},
		{"an error without attempts", nil, errors.New("limiter: ctx done"), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, SentAttempts(tt.resp, tt.err))
		})
	}
}
