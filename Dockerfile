# Container image of the token service. Multi-stage, so the runtime image holds only the bundled
# service (dist/bundle/: the server and its dependencies in a few files, see
# scripts/build-server.ts), the browser client it serves (dist/client/) and package.json (which
# carries "type": "module"); no node_modules, no compiler, no sources:
#   build     npm ci with dev dependencies, `npm run build`
#   emulator  dev-only upstream emulator for the compose `dev` profile (docker-compose.yml)
#   runtime   the default (last) stage: node user, exec-form CMD, HEALTHCHECK with node
# No secret is ever passed at build time: credentials come from the environment or *_FILE
# secret files at run time. Build: docker build -t webrtc-token-service .
# Run with --init (or `init: true` in compose) so PID 1 reaps and forwards signals.

FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm,sharing=locked \
    npm ci --no-audit --no-fund
# tsconfig*.json: the server build and the browser client build (`npm run build` runs both).
COPY tsconfig*.json ./
COPY src ./src
COPY scripts/build-client.ts scripts/build-server.ts ./scripts/
# Type declarations are for library consumers, not for running the service (dist/client/*.js,
# the browser client the service serves, stays).
RUN npm run build && find dist -name '*.d.ts' -delete

# Dev only (compose `dev` profile): the provider emulator, run from its TypeScript sources with
# tsx from the dev dependencies. Never the default target and never used in production.
FROM build AS emulator
COPY emulator ./emulator
USER node
ENV EMULATOR_HOST=0.0.0.0 EMULATOR_PORT=9999
EXPOSE 9999
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.EMULATOR_PORT||9999)+'/__emulator/stats',{signal:AbortSignal.timeout(2500)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "--import", "tsx", "emulator/main.ts"]

FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
# Files stay owned by root: the node user can read the code but not change it.
COPY package.json ./
COPY --from=build /app/dist/bundle ./dist/bundle
COPY --from=build /app/dist/client ./dist/client
USER node
EXPOSE 8080
# Liveness: GET /healthz on the configured PORT. Node's fetch, because the slim image has no curl.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz',{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "dist/bundle/server.js"]
