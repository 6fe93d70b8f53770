# syntax=docker/dockerfile:1
# The odm-operator image: `odm-operator run` on a slim Python, as a non-root user, with the runtime dependencies only
# (no sandbox or test extras). The Helm chart's default image is odm-operator:<appVersion>:
#   docker build -t odm-operator:0.1.0 .
#   docker tag odm-operator:0.1.0 111122223333.dkr.ecr.eu-west-1.amazonaws.com/odm-operator:0.1.0   # and push

# The base image by release tag (a Python patch release on Debian bookworm). To bump it, or to pin it by digest:
#   docker buildx imagetools inspect python:3.11.14-slim-bookworm    # prints the index digest
#   docker build --build-arg PYTHON_IMAGE=python:3.11.14-slim-bookworm@sha256:<digest> ...
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# ----- build: install the package and its runtime dependencies into a virtual environment -----------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/odm-operator
WORKDIR /src
COPY requirements.lock pyproject.toml README.md ./
# Every dependency (and the build backend) at the version and hash in requirements.lock (`make lock` writes it),
# so a build installs exactly what was reviewed; nothing is resolved at build time.
RUN /opt/odm-operator/bin/pip install --require-hashes --no-deps -r requirements.lock
COPY operator ./operator
# `.` only: the local stack (sandbox/, with kmock, moto and rich) is another distribution and stays out of the image.
RUN /opt/odm-operator/bin/pip install --no-deps --no-build-isolation . \
 && /opt/odm-operator/bin/python -c "import odm_operator.handlers, odm_operator.cli" \
 && /opt/odm-operator/bin/python -m compileall -q /opt/odm-operator/lib

# ----- runtime: the virtual environment on a fresh base, run as an unprivileged user ------------------------------
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="odm-operator" \
      org.opencontainers.image.description="Runs OpenDroneMap jobs (ODMJob) on AWS ECS from Kubernetes" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 odm \
 && useradd --system --uid 10001 --gid odm --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin odm
COPY --from=build /opt/odm-operator /opt/odm-operator
ENV PATH=/opt/odm-operator/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
# 8080: kopf's health endpoint (--liveness); 8081: Prometheus metrics (setting metrics_port).
EXPOSE 8080 8081
ENTRYPOINT ["odm-operator", "run"]
CMD ["--all-namespaces", "--standalone", "--liveness=http://0.0.0.0:8080/healthz"]
