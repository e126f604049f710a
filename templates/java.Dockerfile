# cjob template java: the jar was built on the host (mvn -B -q -DskipTests package) or found in the source folder.
# Metadata comes before ADD, so the engine's cache keeps it and a rebuild only copies.
FROM {{.Base}}
CMD ["java", "-jar", "/app.jar"]
ADD {{.Artifact}} /app.jar
