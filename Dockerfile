# The gateway image: one static binary. Untested here (no Docker engine on
# the development machines); kept correct by reading.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/gateway ./cmd/gateway && mkdir -p /out/certs

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/gateway /gateway
# /certs: where docker-compose's dev-cert writes and the gateway reads; a
# new volume mounted here takes this directory's owner (nonroot).
COPY --from=build --chown=nonroot:nonroot /out/certs /certs
EXPOSE 8080 8443
ENTRYPOINT ["/gateway"]
# Plain HTTP unless given --tls-cert and --tls-key (PasswordText is then
# refused; behind a proxy that ends TLS add --tls-terminated-upstream).
CMD ["serve", "--listen", "0.0.0.0:8080"]
