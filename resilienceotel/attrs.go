package resilienceotel

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/otel/attribute"

	"github.com/resilience-go/resilience"
	"github.com/resilience-go/resilience/llmhttp"
	"github.com/resilience-go/resilience/queue"
)

// Attribute keys, as the OpenTelemetry semantic conventions name them
// (messaging and GenAI), and this library's own.
const (
	keyMessagingSystem    = attribute.Key("messaging.system")
	keyMessagingOperation = attribute.Key("messaging.operation.name")
	keyMessagingOpType    = attribute.Key("messaging.operation.type")
	keyDestination        = attribute.Key("messaging.destination.name")
	keyMessageID          = attribute.Key("messaging.message.id")
	keyErrorType          = attribute.Key("error.type")
	keyState              = attribute.Key("state")

	keyGenAIOperation    = attribute.Key("gen_ai.operation.name")
	keyGenAIProvider     = attribute.Key("gen_ai.provider.name")
	keyGenAIRequestModel = attribute.Key("gen_ai.request.model")
	keyGenAIResponseMdl  = attribute.Key("gen_ai.response.model")
	keyGenAIInputTokens  = attribute.Key("gen_ai.usage.input_tokens")
	keyGenAIOutputTokens = attribute.Key("gen_ai.usage.output_tokens")
	keyGenAITokenType    = attribute.Key("gen_ai.token.type")
	keyHTTPMethod        = attribute.Key("http.request.method")
	keyHTTPStatus        = attribute.Key("http.response.status_code")
	keyHTTPResendCount   = attribute.Key("http.request.resend_count")
	keyServerAddress     = attribute.Key("server.address")

	keyBreakerName  = attribute.Key("resilience.breaker.name")
	keyBreakerState = attribute.Key("resilience.breaker.state")
	keyTaskName     = attribute.Key("resilience.task.name")
	keyTaskAttempt  = attribute.Key("resilience.task.attempt")
)

// messagingSystem is the messaging.system of every queue span and metric.
const messagingSystem = "resilience"

// errorType names a task's or an enqueue's failure for error.type: the
// library's error kind when it has one ("revoked", "timeout" (a task's
// time limits too), "canceled",
// "breaker_open", "invalid_argument", "unknown_queue", an HTTP status from
// an LLM call), else "_OTHER".
func errorType(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, queue.ErrRevoked):
		return "revoked"
	case errors.Is(err, queue.ErrUnknownQueue):
		return "unknown_queue"
	case errors.Is(err, queue.ErrInvalidArgument), errors.Is(err, resilience.ErrInvalidArgument):
		return "invalid_argument"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, resilience.ErrTimeout),
		errors.Is(err, queue.ErrTimeLimit), errors.Is(err, queue.ErrSoftTimeLimit):
		return "timeout"
	}
	return llmhttp.ErrorType(0, err)
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("resilienceotel: "+format+": %w", append(args, resilience.ErrInvalidArgument)...)
}
