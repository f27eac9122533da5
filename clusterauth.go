package lithair

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Nodes talk to each other over HTTP for what Raft does not carry: a join,
// a write a follower forwards, a read index. Such a request is signed with
// the cluster secret: an HMAC of its method, path, time and body, so it
// cannot be forged, altered or replayed later than clusterSkew.

// ClusterHeader carries a node-to-node request's signature.
const ClusterHeader = "X-Lithair-Cluster"

// clusterSkew bounds how old (or early) a signed request may be.
const clusterSkew = 2 * time.Minute

// ErrClusterAuth refuses a node-to-node request without a good signature.
var ErrClusterAuth = errors.New("lithair: the request is not signed with the cluster secret")

func clusterMAC(secret []byte, method, path string, t int64, body []byte) string {
	sum := sha256.Sum256(body)
	m := hmac.New(sha256.New, secret)
	fmt.Fprintf(m, "lithair-cluster-v1\n%s %s\n%d\n%x", method, path, t, sum)
	return hex.EncodeToString(m.Sum(nil))
}

// signCluster signs req, whose body is body.
func signCluster(req *http.Request, secret, body []byte) {
	t := time.Now().Unix()
	req.Header.Set(ClusterHeader, "t="+strconv.FormatInt(t, 10)+";mac="+clusterMAC(secret, req.Method, req.URL.Path, t, body))
}

// VerifyCluster checks the signature of a node-to-node request whose body
// was read into body.
func (a *Appliance) VerifyCluster(r *http.Request, body []byte) error {
	secret := a.clusterSecret()
	if len(secret) == 0 {
		return ErrClusterAuth
	}
	h := r.Header.Get(ClusterHeader)
	ts, mac, ok := strings.Cut(h, ";mac=")
	t, err := strconv.ParseInt(strings.TrimPrefix(ts, "t="), 10, 64)
	if !ok || err != nil || !strings.HasPrefix(ts, "t=") {
		return ErrClusterAuth
	}
	if d := time.Since(time.Unix(t, 0)); d > clusterSkew || d < -clusterSkew {
		return fmt.Errorf("%w (its time is %s off this node's clock)", ErrClusterAuth, d.Round(time.Second))
	}
	if !hmac.Equal([]byte(mac), []byte(clusterMAC(secret, r.Method, r.URL.Path, t, body))) {
		return ErrClusterAuth
	}
	return nil
}

func (a *Appliance) clusterSecret() []byte { return []byte(a.cfg.Raft.Secret) }
