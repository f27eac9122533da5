package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Cluster is three nodes on loopback, each with its own data dir on the
// same disk: every write is fsync'd by the leader and by each follower
// before it counts as committed (sync = "always").
type Cluster struct {
	Nodes  []*Node
	Leader *Node
	Token  string
}

// startCluster starts n1, which makes the cluster, then n2 and n3, which
// join it through n1's HTTP address, waits until the three are voters
// with a leader, and signs in.
func startCluster(base NodeOptions, root, password string, n int) (*Cluster, error) {
	c := &Cluster{}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, err
	}
	secret := newSecret(16)
	fail := func(err error) (*Cluster, error) {
		c.Stop()
		return nil, err
	}
	for i := range n {
		o := base
		o.ID = fmt.Sprintf("n%d", i+1)
		o.Dir = filepath.Join(root, o.ID)
		raft, err := freeAddr()
		if err != nil {
			return fail(err)
		}
		o.Raft = raft
		if i > 0 {
			o.Join = strings.TrimPrefix(c.Nodes[0].Base, "http://")
		}
		o.Env = append(append([]string{}, o.Env...), "LITHAIR_CLUSTER_SECRET="+secret, "LITHAIR_AUTH_INITIAL_ADMIN_PASSWORD="+password)
		nd, err := startNode(o)
		if err != nil {
			return fail(err)
		}
		c.Nodes = append(c.Nodes, nd)
		if i == 0 {
			if err := nd.WaitReady(time.Minute); err != nil {
				return fail(err)
			}
		}
	}
	for _, nd := range c.Nodes {
		if err := nd.WaitReady(time.Minute); err != nil {
			return fail(err)
		}
	}
	var err error
	if c.Token, err = login(c.Nodes[0].Base, password); err != nil {
		return fail(err)
	}
	if err := c.waitVoters(n, time.Minute); err != nil {
		return fail(err)
	}
	// The session is a record: wait until every node has applied it.
	for _, nd := range c.Nodes {
		if err := waitFor(30*time.Second, func() error {
			return callJSON(http.DefaultClient, "GET", nd.Base+"/api/_auth/me", c.Token, nil, nil)
		}); err != nil {
			return fail(fmt.Errorf("the session does not work on %s: %w", nd.ID, err))
		}
	}
	return c, nil
}

// waitVoters waits until GET /api/_cluster on n1 shows n voters with their
// HTTP addresses and a leader, and notes the leader.
func (c *Cluster) waitVoters(n int, d time.Duration) error {
	return waitFor(d, func() error {
		var v struct {
			Leader string `json:"leader"`
			Nodes  []struct {
				ID          string `json:"id"`
				Suffrage    string `json:"suffrage"`
				HTTPAddress string `json:"http_address"`
			} `json:"nodes"`
		}
		if err := callJSON(http.DefaultClient, "GET", c.Nodes[0].Base+"/api/_cluster", c.Token, nil, &v); err != nil {
			return err
		}
		if len(v.Nodes) != n || v.Leader == "" {
			return fmt.Errorf("%d nodes, leader %q", len(v.Nodes), v.Leader)
		}
		for _, nd := range v.Nodes {
			if nd.HTTPAddress == "" || nd.Suffrage != "Voter" {
				return fmt.Errorf("node %s: %s, http %q", nd.ID, nd.Suffrage, nd.HTTPAddress)
			}
		}
		for _, nd := range c.Nodes {
			if nd.ID == v.Leader {
				c.Leader = nd
				return nil
			}
		}
		return fmt.Errorf("the leader %q is none of ours", v.Leader)
	})
}

// PIDs returns the nodes' process ids.
func (c *Cluster) PIDs() []int {
	var pids []int
	for _, nd := range c.Nodes {
		pids = append(pids, nd.PID())
	}
	return pids
}

// Bases returns the nodes' HTTP base URLs.
func (c *Cluster) Bases() []string {
	var b []string
	for _, nd := range c.Nodes {
		b = append(b, nd.Base)
	}
	return b
}

// Stop stops every node.
func (c *Cluster) Stop() {
	for _, nd := range c.Nodes {
		nd.Stop()
	}
}

// waitFor calls f until it returns nil or d has passed, and returns its
// last error then.
func waitFor(d time.Duration, f func() error) error {
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %v: %w", d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
