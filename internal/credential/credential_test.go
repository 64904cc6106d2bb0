package credential

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestPasswordHash(t *testing.T) {
	h, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	for pw, want := range map[string]bool{"correct horse battery": true, "correct horse batterY": false, "": false, h: false} {
		if ok, err := CheckPassword(h, pw); err != nil || ok != want {
			t.Errorf("CheckPassword(%q) = %v, %v; want %v", pw, ok, err, want)
		}
	}
	if _, err := CheckPassword("plain", "plain"); err == nil {
		t.Error("CheckPassword of a hash that is not argon2id: no error")
	}
}

func TestKeySealOpen(t *testing.T) {
	raw := make([]byte, KeySize)
	rand.Read(raw)
	for name, data := range map[string][]byte{"raw": raw, "base64": []byte(base64.StdEncoding.EncodeToString(raw) + "\n")} {
		k, err := ParseKey(data)
		if err != nil {
			t.Fatalf("ParseKey(%s): %v", name, err)
		}
		sealed, err := k.Seal("s3cret", "lab")
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(sealed, []byte("s3cret")) {
			t.Errorf("%s: the sealed secret holds it in clear", name)
		}
		if got, err := k.Open(sealed, "lab"); err != nil || got != "s3cret" {
			t.Errorf("%s: Open = %q, %v; want s3cret", name, got, err)
		}
		if _, err := k.Open(sealed, "other"); !errors.Is(err, ErrSealBroken) {
			t.Errorf("%s: Open for another owner: %v, want ErrSealBroken", name, err)
		}
		sealed[len(sealed)-1] ^= 1
		if _, err := k.Open(sealed, "lab"); !errors.Is(err, ErrSealBroken) {
			t.Errorf("%s: Open of a changed value: %v, want ErrSealBroken", name, err)
		}
	}
	other, _ := ParseKey(bytes.Repeat([]byte{7}, KeySize))
	k, _ := ParseKey(raw)
	sealed, _ := k.Seal("s3cret", "lab")
	if _, err := other.Open(sealed, "lab"); !errors.Is(err, ErrSealBroken) {
		t.Errorf("Open with another key: %v, want ErrSealBroken", err)
	}
	for _, bad := range []string{"", "short", base64.StdEncoding.EncodeToString(raw[:16])} {
		if _, err := ParseKey([]byte(bad)); err == nil {
			t.Errorf("ParseKey(%q): no error", bad)
		}
	}
}

func TestNewKeyFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "key")
	if err := NewKeyFile(file); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKeyFile(file); err != nil {
		t.Errorf("LoadKeyFile of a new key: %v", err)
	}
	if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	if err := NewKeyFile(file); err == nil {
		t.Error("NewKeyFile over an existing key: no error")
	}
}
