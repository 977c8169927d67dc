# voice-gateway: a production image. Build: docker build -t voice-gateway .
# Stage 1 compiles TypeScript and the native modules (better-sqlite3, @discordjs/opus) with the
# toolchain; stage 2 carries only dist/ and production node_modules, runs as the non-root `node` user.

FROM node:20-bookworm-slim AS build
WORKDIR /app
# node-gyp's toolchain, for native modules without a prebuilt binary for this platform.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ ca-certificates \
 && rm -rf /var/lib/apt/lists/*
# onnxruntime-node's install script downloads the CUDA provider, which the CPU-only Silero VAD never
# uses (README "Tests"): skipped; the CPU binaries ship in the npm package.
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    CALL_RECORD_PATH=/app/data/calls.sqlite
WORKDIR /app
COPY --from=build --chown=node:node /app/package.json ./package.json
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
# The SQLite call log (when DATABASE_URL is unset) lives here; mount a volume to keep it.
RUN mkdir -p /app/data && chown node:node /app/data
VOLUME ["/app/data"]
USER node
EXPOSE 8080
# /health: the process answers. Orchestrators route traffic on /ready (workers up, not draining).
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM starts the drain (calls get up to SHUTDOWN_DEADLINE_MS); give the container longer to stop.
STOPSIGNAL SIGTERM
CMD ["node", "dist/cli/bin.js", "serve"]
