# paddock/redis:bookworm-local: Redis and Sentinel from Debian's packages, for machines that reach no
# image registry (compose's HA profile runs redis-sentinel from it). Runs as the package's `redis`
# user; data in /data (a volume in compose).
ARG DEBIAN_IMAGE=paddock/debian:bookworm-local
FROM ${DEBIAN_IMAGE}
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server redis-sentinel >/dev/null \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /data && chown redis:redis /data
WORKDIR /data
USER redis
EXPOSE 6379
HEALTHCHECK --interval=5s --timeout=3s --retries=5 CMD ["redis-cli", "ping"]
CMD ["redis-server", "--bind", "0.0.0.0", "--protected-mode", "no", "--dir", "/data"]
