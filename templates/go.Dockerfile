# cjob template go: the binary was built on the host (CGO_ENABLED=0 GOOS=linux go build -trimpath).
# Metadata comes before COPY, so the engine's cache keeps it and a rebuild only copies.
FROM {{.Base}}
ENTRYPOINT ["/app"]
COPY {{.Artifact}} /app
