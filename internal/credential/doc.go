// Package credential keeps secrets at rest: argon2id password hashes (the
// web UI's users and the integrating systems' PasswordText) and the
// AES-256-GCM sealing of the systems' shared secrets, which a
// PasswordDigest check needs in clear, under a key that lives outside the
// database (`--secret-key-file`). It imports nothing of ours, so the
// catalog, the web UI and the CLI share one implementation.
package credential
