// Package legacy holds the schema of the original tool's jobs file, a
// protobuf text file (see jobs.proto). prodspec reads it with prototext.
package legacy

//go:generate protoc --go_out=. --go_opt=paths=source_relative jobs.proto
