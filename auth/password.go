package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2id parameters for new hashes: OWASP's second recommended profile
// (19 MiB, 2 passes, 1 lane). Verify reads the parameters from each hash,
// so raising them later keeps old hashes valid.
const (
	argonMemory  = 19 * 1024 // KiB
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
	saltLen      = 16
)

// Password length bounds, in bytes. The upper bound keeps one hash from
// costing more than any other.
const (
	MinPassword = 8
	MaxPassword = 1024
)

// ErrMismatch is returned by Verify when the password does not match.
var ErrMismatch = errors.New("auth: password does not match")

// hashSlots bounds the argon2id hashes running at once: each holds
// argonMemory of RAM and a core, so a burst of logins must queue rather
// than exhaust the machine.
var hashSlots = make(chan struct{}, max(1, runtime.GOMAXPROCS(0)))

func acquire(ctx context.Context) error {
	select {
	case hashSlots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func release() { <-hashSlots }

// CheckPassword says what is wrong with a new password, or nil.
func CheckPassword(p string) error {
	switch {
	case len(p) < MinPassword:
		return fmt.Errorf("the password must be at least %d bytes long", MinPassword)
	case len(p) > MaxPassword:
		return fmt.Errorf("the password must be at most %d bytes long", MaxPassword)
	}
	return nil
}

// HashPassword returns the PHC string of an argon2id hash of password with a
// fresh random salt. It waits for a free hashing slot, bounded by ctx.
func HashPassword(ctx context.Context, password string) (string, error) {
	if err := CheckPassword(password); err != nil {
		return "", err
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	if err := acquire(ctx); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	release()
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// VerifyPassword checks password against a PHC string made by HashPassword.
// It returns nil on a match, ErrMismatch on a wrong password, and another
// error for a hash it cannot read or a ctx that ended while queued.
func VerifyPassword(ctx context.Context, encoded, password string) error {
	p, salt, key, err := parseHash(encoded)
	if err != nil {
		return err
	}
	if err := acquire(ctx); err != nil {
		return err
	}
	got := argon2.IDKey([]byte(password), salt, p.time, p.memory, p.threads, uint32(len(key)))
	release()
	if subtle.ConstantTimeCompare(got, key) != 1 {
		return ErrMismatch
	}
	return nil
}

// dummyHash is verified against when a login names no known user, so that
// the answer takes as long as for a known user with a wrong password.
var dummyHash = func() string {
	salt := make([]byte, saltLen)
	key := make([]byte, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}()

// WasteTime spends what one VerifyPassword costs, for a login with an
// unknown user name.
func WasteTime(ctx context.Context, password string) {
	_ = VerifyPassword(ctx, dummyHash, password)
}

type params struct {
	memory  uint32
	time    uint32
	threads uint8
}

// Limits on parameters read back from a stored hash, so that a forged
// record cannot make one verification take the machine.
const (
	maxMemory = 1 << 20 // KiB: 1 GiB
	maxTime   = 16
)

func parseHash(s string) (params, []byte, []byte, error) {
	var p params
	bad := func(why string) (params, []byte, []byte, error) {
		return p, nil, nil, fmt.Errorf("auth: unreadable password hash: %s", why)
	}
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return bad("not an argon2id PHC string")
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return bad("unsupported version")
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.memory, &p.time, &p.threads); err != nil {
		return bad("bad parameters")
	}
	if p.memory < 8 || p.memory > maxMemory || p.time < 1 || p.time > maxTime || p.threads < 1 {
		return bad("parameters out of range")
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return bad("bad salt")
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 64 {
		return bad("bad key")
	}
	return p, salt, key, nil
}
