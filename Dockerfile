# gowsgi image: the gowsgi binary built against the exact Python of the
# runtime image (same full version, same Debian release), so it loads that
# image's libpython and an app's compiled wheels match it.
#   docker build -t gowsgi .
#   docker build --build-arg PYTHON_VERSION=3.13.1 -t gowsgi:py3.13 .
#   docker run -p 8000:8000 -v $PWD:/app gowsgi myproject.wsgi:application
# Projects build their own image FROM this one (README: Container image).
# The image build is not exercised in CI (no Docker engine there);
# cmd/gowsgi/dockerfile_test.go checks this file's structure.
ARG PYTHON_VERSION=3.12.8
ARG DEBIAN_RELEASE=bookworm
ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-${DEBIAN_RELEASE} AS go

# Build on the runtime's own Python image: its headers, its libpython and
# its pkg-config file (python3-embed.pc).
FROM python:${PYTHON_VERSION}-slim-${DEBIAN_RELEASE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev make pkg-config git \
 && rm -rf /var/lib/apt/lists/*
COPY --from=go /usr/local/go /usr/local/go
ENV PATH=/usr/local/go/bin:$PATH GOTOOLCHAIN=local CGO_ENABLED=1
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN make build PYTHON=python3 && ./bin/gowsgi version

FROM python:${PYTHON_VERSION}-slim-${DEBIAN_RELEASE} AS runtime
COPY --from=build /src/bin/gowsgi /usr/local/bin/gowsgi
RUN useradd --create-home --uid 10001 --user-group app
WORKDIR /app
USER app
# Binding every interface is right inside a container only: the image's
# default, never gowsgi's (127.0.0.1:8000).
ENV GOWSGI_BIND=0.0.0.0:8000 PYTHONUNBUFFERED=1
EXPOSE 8000
STOPSIGNAL SIGTERM
ENTRYPOINT ["gowsgi", "run"]
