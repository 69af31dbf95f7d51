# ecommerce-service: a static-ish Rust binary on distroless, running as non-root.
# Builds natively for the target platform (linux/amd64 or linux/arm64):
#   docker buildx build --platform linux/amd64,linux/arm64 -t ecommerce-service .

# Official images through ECR Public: Docker Hub rate-limits anonymous pulls
# (and no `# syntax=` line, which would pull the frontend from there too).
ARG RUST_IMAGE=public.ecr.aws/docker/library/rust:1.95-slim-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

# cargo-chef turns the dependency graph into a recipe, so the dependency layer
# (the AWS SDK and actix-web: most of the build) is rebuilt only when
# Cargo.toml or Cargo.lock change, never for a source edit.
FROM ${RUST_IMAGE} AS chef
RUN cargo install cargo-chef --locked --version 0.1.78
WORKDIR /build

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /build/recipe.json recipe.json
RUN cargo chef cook --release --locked --bin ecommerce-service --recipe-path recipe.json
COPY . .
# The same command as `make release`: release profile, default features, host target.
RUN cargo build --release --locked --bin ecommerce-service \
 && mkdir -p /staging/data

FROM ${RUNTIME_IMAGE}
COPY --from=builder /build/target/release/ecommerce-service /usr/local/bin/ecommerce-service
COPY --from=builder --chown=65532:65532 /staging/data /var/lib/ecommerce-service
# AUTH_MODE=jwt: the image refuses to start without AUTH_ISSUER and
# AUTH_AUDIENCE rather than serve an open API; set AUTH_MODE=off for a trial.
ENV PORT=8080 \
    HOST=0.0.0.0 \
    LOG_FORMAT=json \
    AUTH_MODE=jwt \
    METRICS=on \
    DATA_DIR=/var/lib/ecommerce-service
# distroless "nonroot": numeric, so orchestrators can verify it is not root.
USER 65532:65532
EXPOSE 8080
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/ecommerce-service", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/ecommerce-service"]
