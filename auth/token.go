package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"strings"
)

// Token prefixes make a leaked secret recognisable (secret scanners, logs)
// and tell at a glance which table to look it up in.
const (
	APITokenPrefix = "lth_"  // API tokens, made by an admin for scripts
	SessionPrefix  = "lths_" // sessions, made by a login
)

// secretBytes of randomness make a token: 256 bits, beyond guessing.
const secretBytes = 32

// NewToken returns a fresh random secret with prefix.
func NewToken(prefix string) (string, error) {
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// TokenHash is the digest a token is stored and looked up under: the
// hex SHA-256 of the whole secret. A stolen copy of the data dir yields
// no usable token.
func TokenHash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// SameHash compares two token digests in constant time.
func SameHash(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// WellFormed reports whether s could be a token with prefix: the prefix
// and exactly the encoded length of a secret, in the URL-safe alphabet.
// It lets a forged or truncated token be refused before any lookup.
func WellFormed(s, prefix string) bool {
	rest, ok := strings.CutPrefix(s, prefix)
	if !ok || len(rest) != base64.RawURLEncoding.EncodedLen(secretBytes) {
		return false
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Visible is the part of a token that may be shown after creation, to tell
// tokens apart in a list: the prefix and the first 6 characters.
func Visible(secret string) string {
	n := min(len(secret), len(APITokenPrefix)+6)
	return secret[:n]
}
