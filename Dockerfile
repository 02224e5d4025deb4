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
# demo page (the default config serves it at /vendor/socket.io/). That is all Node does here:
# the tests need Node >= 20 and are not run in the image build (run them on the build host,
# see docs/testing.md); Debian 12's Node 18 installs the pinned packages, with an EBADENGINE
# warning (tests/package.json asks for >= 20 for the test runner), no install scripts.
RUN (cd tests && npm ci --no-audit --no-fund --loglevel=error --engine-strict=false --ignore-scripts) \
 && ./autogen.sh \
 && mkdir build && cd build \
 && ../configure --prefix=/usr --sysconfdir=/etc \
 && make -j"$(nproc)" \
 && make install DESTDIR=/out \
 && find /out -name '*.la' -delete

FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libwebsockets17 libjansson4 libjwt0 librdkafka1 libmosquitto1 ca-certificates \
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
