package engine

import (
	"context"

	"go.opentelemetry.io/otel/codes"
	oteltrace "go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/cjob/cjob/internal/trace"
)

// The Docker client makes an OpenTelemetry span of every API request; this
// provider turns each into a cjob trace span ("POST /containers/create")
// on the lane of the request's context, when that context carries a
// recorder. Without one it costs a context lookup per request.
type tracerProvider struct{ noop.TracerProvider }

func (tracerProvider) Tracer(string, ...oteltrace.TracerOption) oteltrace.Tracer { return tracer{} }

type tracer struct{ noop.Tracer }

func (t tracer) Start(ctx context.Context, name string, opts ...oteltrace.SpanStartOption) (context.Context, oteltrace.Span) {
	ctx, sp := trace.Start(ctx, name)
	if sp == nil {
		return t.Tracer.Start(ctx, name, opts...)
	}
	return ctx, &span{sp: sp}
}

type span struct {
	noop.Span
	sp *trace.Span
}

func (s *span) End(...oteltrace.SpanEndOption) { s.sp.End() }

func (s *span) SetStatus(code codes.Code, desc string) {
	if code == codes.Error {
		s.sp.Set("error", desc)
	}
}
