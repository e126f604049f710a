# cjob template node: the source folder as built on the host (npm run build, when package.json has a build script).
# Metadata comes before COPY, so the engine's cache keeps it and a rebuild only copies.
FROM {{.Base}}
WORKDIR /app
CMD ["node", {{json .Main}}]
COPY {{.Artifact}} /app
