# The dprop image: the static dprop binary on an empty base. It serves as a
# broker node (dprop broker ...) and as a sidecar replica (dprop replica ...).
#
# No base image can be pulled where dprop is built, so nothing here is
# compiled: scripts/build-image.sh builds build/image/dprop first
# (CGO_ENABLED=0) and passes build/image as the context:
#
#   scripts/build-image.sh            # tags dprop:dev
#
# docs/deploy.md shows the ordinary multi-stage Dockerfile for machines that
# can pull golang and distroless images. There are no CA certificates in
# this image: give --tlsca for TLS to NATS.
FROM scratch

# /data, owned by nobody: the path for a broker's store or a sidecar's
# snapshot. A fresh named volume mounted there takes this owner, so the
# unprivileged user below can write it. There is deliberately no VOLUME
# instruction: apps (dprop feed, dprop watch) and sidecars without --data
# need no storage, and VOLUME would give each of them an anonymous volume.
COPY --chown=65534:65534 rootfs/ /
COPY dprop /dprop

USER 65534:65534
# 4222 NATS clients, 6222 NATS routes, 8222 NATS monitoring, 37767 the
# sidecar's HTTP API (loopback by default: see --http).
EXPOSE 4222 6222 8222 37767

# A sidecar's readiness by default; brokers override it (docs/deploy.md).
HEALTHCHECK --interval=5s --timeout=4s --start-period=60s --retries=3 \
	CMD ["/dprop", "probe"]

ENTRYPOINT ["/dprop"]
CMD ["--help"]
