# syntax=docker/dockerfile:1
# opencmq server image. Build: docker build -t opencmq .
# Run one node:  docker run -v opencmq-data:/var/lib/opencmq -p 9600:9600 \
#                  -e OPENCMQ_SECRET_ID=... -e OPENCMQ_SECRET_KEY=... opencmq
# Options come from OPENCMQ_* variables (see deploy/docker/entrypoint.sh), from a JSON file named
# by OPENCMQ_CONFIG, or as arguments after the image name.

ARG NODE_IMAGE=node:20-bookworm-slim

# ---- toolchain: fs-ext is a native addon compiled by node-gyp at install time ----
FROM ${NODE_IMAGE} AS toolchain
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
# node-gyp builds against the headers shipped with this Node instead of downloading them.
ENV npm_config_nodedir=/usr/local
WORKDIR /opt/opencmq
COPY package.json package-lock.json ./

# ---- build: all dependencies, then the TypeScript compile ----
FROM toolchain AS build
RUN npm ci
COPY . .
RUN npm run build

# ---- production dependencies only, the native addon compiled here ----
FROM toolchain AS prod-deps
RUN npm ci --omit=dev \
 && rm -rf node_modules/fs-ext/build/Release/obj.target node_modules/fs-ext/build/Release/.deps \
 && npm cache clean --force

# ---- runtime: no compiler, no dev dependencies, not root ----
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    OPENCMQ_DATA_DIR=/var/lib/opencmq/data \
    OPENCMQ_HOST=0.0.0.0 \
    OPENCMQ_PORT=9600 \
    OPENCMQ_ADMIN_HOST=0.0.0.0 \
    OPENCMQ_ADMIN_PORT=9680
RUN groupadd --system --gid 10001 opencmq \
 && useradd --system --uid 10001 --gid opencmq --home-dir /var/lib/opencmq --shell /usr/sbin/nologin opencmq \
 && mkdir -p /var/lib/opencmq \
 && chown opencmq:opencmq /var/lib/opencmq
WORKDIR /opt/opencmq
COPY --from=prod-deps /opt/opencmq/node_modules ./node_modules
COPY --from=build /opt/opencmq/package.json ./package.json
COPY --from=build /opt/opencmq/dist/src ./dist/src
COPY deploy/docker/entrypoint.sh /usr/local/bin/opencmq-entrypoint
RUN chmod 0755 /usr/local/bin/opencmq-entrypoint dist/src/cli/main.js \
 && ln -s /opt/opencmq/dist/src/cli/main.js /usr/local/bin/opencmq
USER opencmq
# The data directory is a subdirectory of the volume: the server creates it, and a file system's
# own entries at the volume root (lost+found) stay out of it.
VOLUME ["/var/lib/opencmq"]
# client API, peer (raft) links, admin listener (health, readiness, metrics)
EXPOSE 9600 9700 9680
# Leadership hand-off and the shutdown snapshot need longer than the default 10 s before SIGKILL:
# run with `docker stop -t 60` (compose: stop_grace_period).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.OPENCMQ_ADMIN_PORT || 9680) + '/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["opencmq-entrypoint"]
CMD []
