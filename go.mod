module github.com/resilience-go/resilience

go 1.25.0

require go.uber.org/goleak v1.3.0

require (
	github.com/cenkalti/backoff/v4 v4.3.0 // indirect
	github.com/stretchr/testify v1.12.1 // indirect
	golang.org/x/sync v0.22.0 // indirect
)
