# paddock/node:24-bookworm-local: what node:24-bookworm-slim gives the service images, made without
# a registry: the Debian base from Debian's packages, Node 24 and npm from the npm registry's
# packages (staged into the context by scripts/build-offline-images.sh), user `node` (1000:1000).
ARG DEBIAN_IMAGE=paddock/debian:bookworm-local
FROM ${DEBIAN_IMAGE}
RUN groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
RUN chmod 0755 /usr/local/bin/node \
 && ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && node --version && npm --version
CMD ["node"]
