# An S3-compatible server for rehearsals (`storage: s3://...` without a cloud account): moto's
# server from PyPI, in memory, in its own container (compose profile `s3`). Real clusters point
# AWS_ENDPOINT_URL at MinIO or use S3 itself (docker/README.md).
#
#   docker build -f docker/s3.Dockerfile -t gansweep-s3:latest .
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
ARG MOTO_VERSION=5.2.5
ENV PIP_INDEX_URL=${PIP_INDEX_URL} \
    PIP_CERT=/tmp/ca-bundle.pem
RUN cat /etc/ssl/certs/ca-certificates.crt > /tmp/ca-bundle.pem \
    && printf '%s\n' "${EXTRA_CA_CERTS}" >> /tmp/ca-bundle.pem \
    && python3 -m venv /opt/venv
COPY docker/constraints.txt /tmp/constraints.txt
RUN pip install -c /tmp/constraints.txt "moto[server]==${MOTO_VERSION}" \
    && find /opt/venv -name __pycache__ -type d -prune -exec rm -rf {} +

FROM python
COPY --from=build /opt/venv /opt/venv
COPY docker/healthcheck.sh /opt/gansweep/docker/
RUN useradd --create-home --uid 1000 --shell /bin/bash s3
USER 1000:1000
WORKDIR /home/s3
EXPOSE 9000
ENTRYPOINT ["moto_server", "--host", "0.0.0.0", "--port", "9000"]
