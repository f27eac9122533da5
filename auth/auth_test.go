package auth

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestPasswordRoundTrip(t *testing.T) {
	ctx := context.Background()
	h, err := HashPassword(ctx, "correct horse battery")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$"), h)
	require.NotContains(t, h, "correct horse")
	require.NoError(t, VerifyPassword(ctx, h, "correct horse battery"))
	require.ErrorIs(t, VerifyPassword(ctx, h, "correct horse batterY"), ErrMismatch)

	h2, err := HashPassword(ctx, "correct horse battery")
	require.NoError(t, err)
	require.NotEqual(t, h, h2, "every hash has its own salt")
}

func TestPasswordLengthBounds(t *testing.T) {
	ctx := context.Background()
	_, err := HashPassword(ctx, "short")
	require.ErrorContains(t, err, "at least 8")
	_, err = HashPassword(ctx, strings.Repeat("x", MaxPassword+1))
	require.ErrorContains(t, err, "at most")
}

func TestForgedHashesAreRefusedNotRun(t *testing.T) {
	ctx := context.Background()
	for name, h := range map[string]string{
		"empty":           "",
		"bcrypt":          "$2a$10$abcdefghijklmnopqrstuu",
		"wrong version":   "$argon2id$v=16$m=19456,t=2,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"huge memory":     "$argon2id$v=19$m=99999999,t=2,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"huge time":       "$argon2id$v=19$m=19456,t=1000,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"bad salt base64": "$argon2id$v=19$m=19456,t=2,p=1$!!!$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"short key":       "$argon2id$v=19$m=19456,t=2,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAA",
	} {
		t.Run(name, func(t *testing.T) {
			err := VerifyPassword(ctx, h, "whatever password")
			require.Error(t, err)
			require.NotErrorIs(t, err, ErrMismatch)
		})
	}
}

func TestHashingIsBounded(t *testing.T) {
	// With every slot taken, a hash waits; its context ending frees it.
	for range cap(hashSlots) {
		hashSlots <- struct{}{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := HashPassword(ctx, "long enough password")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	for range cap(hashSlots) {
		<-hashSlots
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			_, err := HashPassword(context.Background(), "long enough password")
			require.NoError(t, err)
		})
	}
	wg.Wait()
	require.Zero(t, len(hashSlots))
}

func TestTokens(t *testing.T) {
	a, err := NewToken(APITokenPrefix)
	require.NoError(t, err)
	b, err := NewToken(APITokenPrefix)
	require.NoError(t, err)
	require.NotEqual(t, a, b)
	require.True(t, WellFormed(a, APITokenPrefix))
	require.False(t, WellFormed(a, SessionPrefix))
	require.False(t, WellFormed(a[:len(a)-1], APITokenPrefix), "truncated")
	require.False(t, WellFormed(a+"x", APITokenPrefix), "too long")
	require.False(t, WellFormed(a[:len(a)-1]+"!", APITokenPrefix), "foreign character")
	require.Len(t, TokenHash(a), 64)
	require.True(t, SameHash(TokenHash(a), TokenHash(a)))
	require.False(t, SameHash(TokenHash(a), TokenHash(b)))
	require.Equal(t, a[:10], Visible(a))
}
