# The operator image: built from this workspace, run as a non-root user on a distroless base
# (glibc only; TLS is rustls, so no OpenSSL). Build: docker build -t subnet-operator:dev .

FROM docker.io/library/rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY operator ./operator
COPY e2e ./e2e
# Every workspace member must be present for cargo to load the workspace.
COPY kubectl-subnet ./kubectl-subnet
RUN cargo build --locked --release -p subnet-operator --bin subnet-operator \
    && cp target/release/subnet-operator /subnet-operator

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /subnet-operator /usr/local/bin/subnet-operator
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/subnet-operator"]
