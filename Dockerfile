# syntax=docker/dockerfile:1
# Usher: a multi-stage build. The binary compiles OpenSSL, libpq and SQLite in (vendored
# and bundled features), so the runtime image needs only glibc: debian slim, a non-root
# user, no compiler, no package manager cache. See docs/operations.md.

FROM rust:1.95-bookworm AS build
WORKDIR /src
# The whole workspace: askama reads templates/ and diesel embeds migrations/ at compile time.
COPY . .
RUN cargo build --release --locked -p usher \
 && strip target/release/usher \
 && install -D -m 0755 target/release/usher /out/usher

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/usher --create-home usher \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*
COPY --from=build /out/usher /usr/local/bin/usher
# The notices of the MPL-2.0 crates built in (webauthn-rs: MPL-2.0 §3.2, docs/dependencies.md).
COPY NOTICE /usr/share/doc/usher/NOTICE
USER 10001:10001
WORKDIR /var/lib/usher
ENV USHER_BIND=0.0.0.0:8080 \
    USHER_LOG_FORMAT=json
EXPOSE 8080 9090
# Liveness: /healthz over bash's /dev/tcp (no curl in the image). Not /readyz: a database
# or Redis blip must take a node out of the balancer, not restart every replica.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /healthz HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && head -n1 <&3 | grep -q ' 200 '"]
ENTRYPOINT ["/usr/local/bin/usher"]
CMD ["serve"]
