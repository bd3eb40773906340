# One image for `ddcompat webhook serve` and `ddcompat scanner run` (and `ddcompat check`).
# Multi-stage: the build stage makes a virtualenv; the runtime stage copies only that.
# Runs as the numeric non-root UID 10001 (the Helm chart's runAsUser) and writes nothing
# to its root filesystem, so readOnlyRootFilesystem works.

ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY shared/ shared/
COPY webhook/ webhook/
COPY scanner/ scanner/
RUN python -m venv /opt/ddcompat \
 && /opt/ddcompat/bin/pip install --no-compile ".[server]"

FROM python:${PYTHON_VERSION}-slim-bookworm
LABEL org.opencontainers.image.title="ddcompat" \
      org.opencontainers.image.description="ddtrace/Python compatibility checks for Application Security"
COPY --from=build /opt/ddcompat /opt/ddcompat
ENV PATH=/opt/ddcompat/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
EXPOSE 8443 9090
ENTRYPOINT ["ddcompat"]
CMD ["--help"]
