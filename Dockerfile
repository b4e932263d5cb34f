# gowsgi image: the binary built against the exact Python of the runtime
# image, so it loads that image's libpython.
#   docker build -t gowsgi .
#   docker run -p 8000:8000 -v $PWD:/app gowsgi myproject.wsgi:application
ARG PYTHON_VERSION=3.12
ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS go

# Build on the runtime's own Python image: same headers, same libpython.
FROM python:${PYTHON_VERSION}-slim-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev make pkg-config git \
 && rm -rf /var/lib/apt/lists/*
COPY --from=go /usr/local/go /usr/local/go
ENV PATH=/usr/local/go/bin:$PATH GOTOOLCHAIN=local
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN make build PYTHON=python3 && ./bin/gowsgi version

FROM python:${PYTHON_VERSION}-slim-bookworm
COPY --from=build /src/bin/gowsgi /usr/local/bin/gowsgi
RUN useradd --create-home --uid 10001 app
USER app
WORKDIR /app
# Binding every interface is right inside a container only.
ENV GOWSGI_BIND=0.0.0.0:8000
EXPOSE 8000
STOPSIGNAL SIGTERM
ENTRYPOINT ["gowsgi", "run"]
