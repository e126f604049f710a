# cjob template static: rootfs/ holds the site (as /site) and a static file server (cjob-sandbox).
# Metadata comes before COPY, so the engine's cache keeps it and a rebuild only copies.
FROM {{.Base}}
CMD ["/cjob-sandbox", "serve-static", "/site", "--listen", ":{{.Port}}"]
COPY {{.Artifact}} /
