# siogate container image: build on Debian bookworm, run as a non-root user with only the
# runtime libraries. The config is /etc/siogate/siogate.json (mount your own there, or set
# SIOGATE_CONFIG); the default serves on 0.0.0.0:3000 inside the container.
#
#   docker build -t siogate .
#   docker run --rm -p 3000:3000 siogate

# The pinned socket.io-client (tests/package-lock.json), fetched with the Node the tests use
# (>= 20; Debian 12's own is 18): make install copies its browser bundle for the demo page
# (the default config serves it at /vendor/socket.io/). The official Node image is Debian
# bookworm too. No install scripts run.
FROM node:20-bookworm-slim AS client
WORKDIR /src/tests
COPY tests/package.json tests/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error --ignore-scripts

FROM debian:bookworm-slim AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential autoconf automake libtool pkg-config \
      libwebsockets-dev libjansson-dev libjwt-dev librdkafka-dev libmosquitto-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
COPY --from=client /src/tests/node_modules tests/node_modules
# The tests are not run in the image build (run them on the build host, see docs/testing.md).
RUN ./autogen.sh \
 && mkdir build && cd build \
 && ../configure --prefix=/usr --sysconfdir=/etc \
 && make -j"$(nproc)" \
 && make install DESTDIR=/out \
 && find /out -name '*.la' -delete

FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libwebsockets17 libwebsockets-evlib-uv libjansson4 libjwt0 librdkafka1 libmosquitto1 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin siogate
COPY --from=build /out/usr/ /usr/
COPY --from=build /out/etc/siogate/ /etc/siogate/
USER siogate
# Env-driven defaults (see etc/siogate.json and docs/operations.md).
ENV SIOGATE_CONFIG=/etc/siogate/siogate.json \
    SIOGATE_LISTEN=0.0.0.0:3000 \
    SIOGATE_LOG_FORMAT=json
EXPOSE 3000
# The daemon probes itself: GET /healthz on server.admin_listen when the config sets it (the
# main port answers 404 there), else on server.listen, from the same config file; bounded
# (3 s), exit 0 on a 200. No curl in the image.
HEALTHCHECK --interval=10s --timeout=5s --start-period=5s --retries=3 \
  CMD ["/usr/bin/siogate", "--health"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/siogate"]
