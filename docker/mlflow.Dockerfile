# The MLflow tracking server's image: mlflow and the PostgreSQL driver, no torch, no Ray.
#
#   docker build -f docker/mlflow.Dockerfile -t gansweep-mlflow:latest .     (from the repository root)
#
# Same build args as docker/Dockerfile (BASE_IMAGE, EXTRA_CA_CERTS, PIP_INDEX_URL) and the same
# constraints file. psycopg2 because the backend URI says `postgresql+psycopg2://`: a bare
# `postgresql://` makes SQLAlchemy 2.1 pick psycopg 3 (tests/orchestrator/test_docker.py).
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS python
ENV LANG=C.UTF-8 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
SHELL ["/bin/bash", "-o", "pipefail", "-c"]

FROM python AS build
ARG EXTRA_CA_CERTS=""
ARG PIP_INDEX_URL=https://pypi.org/simple
ARG MLFLOW_VERSION=3.17.2
ARG PSYCOPG_VERSION=2.9.10
ENV PIP_INDEX_URL=${PIP_INDEX_URL} \
    PIP_CERT=/tmp/ca-bundle.pem
RUN cat /etc/ssl/certs/ca-certificates.crt > /tmp/ca-bundle.pem \
    && printf '%s\n' "${EXTRA_CA_CERTS}" >> /tmp/ca-bundle.pem \
    && python3 -m venv /opt/venv
COPY docker/constraints.txt /tmp/constraints.txt
RUN pip install -c /tmp/constraints.txt "mlflow==${MLFLOW_VERSION}" "psycopg2-binary==${PSYCOPG_VERSION}" \
    && find /opt/venv -name __pycache__ -type d -prune -exec rm -rf {} +

FROM python
COPY --from=build /opt/venv /opt/venv
COPY docker/mlflow-server.sh docker/healthcheck.sh /opt/gansweep/docker/
# MLflow's git lookup finds no repository here; GIT_PYTHON_REFRESH keeps it from warning.
ENV GIT_PYTHON_REFRESH=quiet \
    MLFLOW_ARTIFACTS_DESTINATION=/mlartifacts
RUN useradd --create-home --uid 1000 --shell /bin/bash mlflow \
    && mkdir -p /mlartifacts \
    && chown mlflow:mlflow /mlartifacts
USER 1000:1000
WORKDIR /home/mlflow
EXPOSE 5000
ENTRYPOINT ["/opt/gansweep/docker/mlflow-server.sh"]
