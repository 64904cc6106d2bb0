package credential

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
)

// KeySize is the length of a secret key: AES-256.
const KeySize = 32

// Key seals and opens the integrating systems' secrets with AES-256-GCM.
// It is read from a file outside the database, so a copy of the catalog
// (a dump, a backup, a stolen disk) does not reveal the secrets.
type Key struct {
	aead cipher.AEAD
}

// ParseKey reads a key: KeySize raw bytes, or their standard base64 (what
// `openssl rand -base64 32` prints), surrounding white space ignored.
func ParseKey(data []byte) (*Key, error) {
	raw := data
	if len(raw) != KeySize {
		trimmed := bytes.TrimSpace(data)
		decoded, err := base64.StdEncoding.DecodeString(string(trimmed))
		if err != nil || len(decoded) != KeySize {
			return nil, fmt.Errorf("a secret key is %d random bytes, raw or base64 (make one with: openssl rand -base64 32)", KeySize)
		}
		raw = decoded
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Key{aead: aead}, nil
}

// LoadKeyFile reads a key from file (see ParseKey).
func LoadKeyFile(file string) (*Key, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	k, err := ParseKey(data)
	if err != nil {
		return nil, fmt.Errorf("secret key %s: %w", file, err)
	}
	return k, nil
}

// NewKeyFile writes a fresh random key, base64, to file (mode 0600), and
// refuses to replace one that exists: a lost key loses every sealed secret.
func NewKeyFile(file string) error {
	raw := make([]byte, KeySize)
	if _, err := rand.Read(raw); err != nil {
		return err
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("secret key: %w", err)
	}
	if _, err := f.WriteString(base64.StdEncoding.EncodeToString(raw) + "\n"); err != nil {
		f.Close()
		return fmt.Errorf("secret key: %w", err)
	}
	return f.Close()
}

// ErrSealBroken is a sealed secret that does not open with this key: a
// different key, or a value changed or moved to another row.
var ErrSealBroken = errors.New("the sealed secret does not open with this key")

// Seal encrypts secret for the owner it belongs to (a system's name, bound
// as additional data, so a sealed value copied to another row does not
// open there): a random nonce followed by the ciphertext.
func (k *Key) Seal(secret, owner string) ([]byte, error) {
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(secret)+k.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return k.aead.Seal(nonce, nonce, []byte(secret), []byte(owner)), nil
}

// Open decrypts what Seal made for owner.
//
// Errors: ErrSealBroken.
func (k *Key) Open(sealed []byte, owner string) (string, error) {
	n := k.aead.NonceSize()
	if len(sealed) < n+k.aead.Overhead() {
		return "", ErrSealBroken
	}
	plain, err := k.aead.Open(nil, sealed[:n], sealed[n:], []byte(owner))
	if err != nil {
		return "", ErrSealBroken
	}
	return string(plain), nil
}
