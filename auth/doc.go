// Package auth holds the secrets side of authentication: password hashes
// (argon2id, encoded in the PHC string format), session and API token
// secrets, and the SHA-256 digests under which tokens are stored.
//
// It knows nothing of users or HTTP. The appliance keeps users, sessions
// and tokens as records in the log; this package only makes and checks the
// secrets those records hold, so that no plain password or token is ever
// written anywhere.
package auth
