# siogate container image: build on Debian bookworm, run as a non-root user with only the
# runtime libraries. The config is /etc/siogate/siogate.json (mount your own there, or set
# SIOGATE_CONFIG); the default serves on 0.0.0.0:3000 inside the container.
#
#   docker build -t siogate .
#   docker run --rm -p 3000:3000 siogate

FROM debian:bookworm-slim AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential autoconf automake libtool pkg-config \
      libwebsockets-dev libjansson-dev libjwt-dev librdkafka-dev libmosquitto-dev \
      nodejs npm \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# npm ci fetches the pinned socket.io-client: make install copies its browser bundle for the
# demo page (the default config serves it at /vendor/socket.io/).
RUN (cd tests && npm ci --no-audit --no-fund --loglevel=error) \
 && ./autogen.sh \
 && mkdir build && cd build \
 && ../configure --prefix=/usr --sysconfdir=/etc \
 && make -j"$(nproc)" \
 && make install DESTDIR=/out \
 && find /out -name '*.la' -delete

FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libwebsockets17 libjansson4 libjwt0 librdkafka1 libmosquitto1 curl ca-certificates \
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
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD curl -fsS "http://127.0.0.1:${SIOGATE_LISTEN##*:}/healthz" || exit 1
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/siogate"]
