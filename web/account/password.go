package account

import (
	"fmt"
	"sync"

	"github.com/sharedmedcard/gateway/internal/credential"
)

// Passwords are hashed with argon2id by internal/credential, the one
// implementation the integrating systems' secrets share.

// MinPasswordLength is the shortest password a user may be given.
const MinPasswordLength = 12

// ErrWeakPassword is a password shorter than MinPasswordLength.
var ErrWeakPassword = fmt.Errorf("a password needs at least %d characters", MinPasswordLength)

// hashPassword returns password's argon2id hash in the PHC string format,
// with a fresh random salt, and refuses a short password.
func hashPassword(password string) (string, error) {
	if len([]rune(password)) < MinPasswordLength {
		return "", ErrWeakPassword
	}
	return credential.HashPassword(password)
}

// checkPassword reports whether password matches the PHC-format hash.
func checkPassword(hash, password string) (bool, error) {
	return credential.CheckPassword(hash, password)
}

// decoyHash is checked against when a user does not exist, so a wrong
// user name takes as long to refuse as a wrong password.
var decoyHash = sync.OnceValue(func() string {
	h, err := hashPassword("decoy password, never anyone's")
	if err != nil {
		panic(err)
	}
	return h
})
