-- Client certificates per integrating system, as national health networks
-- require of system certificates: client_cert_sha256 holds the SHA-256
-- fingerprints (lowercase hex of the DER certificate) of the TLS client
-- certificates a system may present. When any is set, the gateway refuses
-- the system's requests unless the TLS handshake presented one of them
-- (verified against the gateway's --tls-client-ca); several let a system
-- rotate its certificate without a gap. Empty: no certificate required, the
-- UsernameToken alone authenticates, as before. Set with
-- `gateway system cert`.
ALTER TABLE systems ADD COLUMN client_cert_sha256 text[] NOT NULL DEFAULT '{}'
    CHECK (cardinality(client_cert_sha256) = 0
           OR array_to_string(client_cert_sha256, ',', '-') ~ '^[0-9a-f]{64}(,[0-9a-f]{64})*$');
