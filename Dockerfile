# syntax=docker/dockerfile:1
# Multi-stage: a static, CGO-free binary (SQLite is modernc.org/sqlite, pure
# Go) on distroless/static as a non-root user.
#
# Probes need no capability: TCP connect and the TCP traceroute use ordinary
# connect sockets with IP_TTL + IP_RECVERR. Ping uses the unprivileged ICMP
# "ping socket" when net.ipv4.ping_group_range includes the process's group
# (Docker >= 20.10 sets "0 2147483647" in every container by default;
# Kubernetes: securityContext.sysctls net.ipv4.ping_group_range), or raw
# sockets when the container is given CAP_NET_RAW. Without either, ping is
# reported as "not permitted" and the diagnosis relies on TCP evidence.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# .git is not in the build context (.dockerignore), so Go cannot stamp the
# VCS revision itself: pass it in, and `portcheck version` prints it:
#   docker build --build-arg VERSION=$(git describe --tags --always) \
#     --build-arg COMMIT=$(git rev-parse HEAD) \
#     --build-arg BUILD_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ) .
ARG VERSION=dev
ARG COMMIT=unknown
ARG BUILD_DATE=
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false \
      -ldflags="-s -w -X main.buildVersion=${VERSION} -X main.buildCommit=${COMMIT} -X main.buildDate=${BUILD_DATE}" \
      -o /out/portcheck ./cmd/portcheck \
 && mkdir -p /out/state

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/portcheck /usr/local/bin/portcheck
# The audit database lives here; mount a volume to keep it.
COPY --from=build --chown=65532:65532 /out/state /var/lib/portcheck
ENV PORTCHECK_AUDIT_DB=/var/lib/portcheck/audit.db \
    PORTCHECK_LISTEN=:8080
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/portcheck"]
CMD ["serve"]
