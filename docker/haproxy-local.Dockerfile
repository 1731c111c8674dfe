# paddock/haproxy:bookworm-local: HAProxy from Debian's packages (guardian-lb), for machines that
# reach no image registry. Runs as the package's `haproxy` user; the config is mounted read-only.
ARG DEBIAN_IMAGE=paddock/debian:bookworm-local
FROM ${DEBIAN_IMAGE}
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends haproxy >/dev/null \
 && rm -rf /var/lib/apt/lists/*
USER haproxy
EXPOSE 8081
CMD ["haproxy", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]
