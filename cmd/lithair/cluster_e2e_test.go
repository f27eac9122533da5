package main

import (
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const clusterSecret = "a-cluster-secret-for-tests"

// freeAddr returns a loopback HOST:PORT nobody listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// clusterNode is one member of a test cluster and how to restart it.
type clusterNode struct {
	*node
	id, raft, dir string
	join          string
}

func (c *clusterNode) start(t *testing.T, extra ...string) {
	t.Helper()
	args := []string{"--node-id", c.id, "--raft", c.raft}
	if c.join != "" {
		args = append(args, "--join", c.join)
	}
	c.node = startWithEnv(t, c.dir, []string{"LITHAIR_CLUSTER_SECRET=" + clusterSecret}, append(args, extra...)...)
}

// startCluster starts n nodes: the first one makes the cluster, the others
// join it through its HTTP address.
func startCluster(t *testing.T, n int, extra ...string) []*clusterNode {
	t.Helper()
	root := t.TempDir()
	nodes := make([]*clusterNode, n)
	for i := range nodes {
		nodes[i] = &clusterNode{id: fmt.Sprintf("n%d", i+1), raft: freeAddr(t), dir: filepath.Join(root, fmt.Sprintf("n%d", i+1))}
		if i > 0 {
			nodes[i].join = strings.TrimPrefix(nodes[0].baseURL, "http://")
		}
		nodes[i].start(t, extra...)
	}
	for _, c := range nodes {
		waitReady(t, c.node)
	}
	waitVoters(t, nodes[0].node, n)
	return nodes
}

func waitReady(t *testing.T, n *node) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if r, err := n.do("GET", "/readyz", ""); err == nil && r.Status == 200 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("node not ready:\n%s", n.logs())
}

type clusterView struct {
	Leader string `json:"leader"`
	Term   uint64 `json:"term"`
	Nodes  []struct {
		ID, Role, Suffrage string
		HTTPAddress        string `json:"http_address"`
	} `json:"nodes"`
}

func clusterOf(t *testing.T, n *node) clusterView {
	t.Helper()
	r := n.must("GET", "/api/_cluster", "")
	var v clusterView
	if r.Status != 200 || json.Unmarshal(r.Body, &v) != nil {
		t.Fatalf("GET /api/_cluster: %d %s", r.Status, r.Body)
	}
	return v
}

func waitVoters(t *testing.T, n *node, want int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		v := clusterOf(t, n)
		ok := len(v.Nodes) == want && v.Leader != ""
		for _, nd := range v.Nodes {
			ok = ok && nd.HTTPAddress != ""
		}
		if ok {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the cluster did not reach %d voters: %+v\n%s", want, clusterOf(t, n), n.logs())
}

func leaderOf(t *testing.T, nodes []*clusterNode) (*clusterNode, []*clusterNode) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, c := range nodes {
			if c.node == nil {
				continue
			}
			r, err := c.do("GET", "/api/_cluster", "")
			if err != nil || r.Status != 200 {
				continue
			}
			var v clusterView
			json.Unmarshal(r.Body, &v)
			if v.Leader == c.id {
				var others []*clusterNode
				for _, o := range nodes {
					if o != c {
						others = append(others, o)
					}
				}
				return c, others
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("no leader")
	return nil, nil
}

func TestClusterWritesAnywhereReadsEverywhere(t *testing.T) {
	nodes := startCluster(t, 3)
	leader, followers := leaderOf(t, nodes)
	// A write sent to a follower is forwarded to the leader.
	r := followers[0].must("POST", "/api/products", `{"name":"via follower","price":3}`)
	if r.Status != 201 {
		t.Fatalf("create on a follower: %d %s", r.Status, r.Body)
	}
	id := r.json(t)["id"].(string)
	// The follower reads its own write at once; every node has it with a
	// linearizable read.
	if r := followers[0].must("GET", "/api/products/"+id, ""); r.Status != 200 {
		t.Fatalf("read-your-write on the follower: %d %s", r.Status, r.Body)
	}
	for _, c := range nodes {
		if r := c.must("GET", "/api/products/"+id+"?consistency=linearizable", ""); r.Status != 200 {
			t.Fatalf("%s: linearizable read: %d %s", c.id, r.Status, r.Body)
		}
	}
	if r := leader.must("GET", "/api/products?consistency=sometimes", ""); r.Status != 400 {
		t.Fatalf("a bad consistency: %d", r.Status)
	}
	// Every node ends with the same state.
	if h := clusterHashes(t, nodes); len(h) != 1 {
		t.Fatalf("state hashes differ: %v", h)
	}
}

// clusterHashes returns the state hashes of the running nodes once each
// has applied what was committed.
func clusterHashes(t *testing.T, nodes []*clusterNode) map[string]bool {
	t.Helper()
	for _, c := range nodes {
		c.adminToken() // signing in writes: do it before comparing
	}
	hashes := map[string]bool{}
	for _, c := range nodes {
		c.must("GET", "/api/products?consistency=linearizable&limit=1", "")
		hashes[fmt.Sprint(c.must("GET", "/api/_state/hash", "").json(t)["hash"])] = true
	}
	return hashes

}

func TestClusterRulesSwitchEverywhere(t *testing.T) {
	rules := copyRules(t)
	nodes := startCluster(t, 3, "--rules", rules, "--set", "rules.watch=false")
	_, followers := leaderOf(t, nodes)
	if r := nodes[2].must("POST", "/api/categories", `{"name":"x"}`); r.Status != 201 {
		t.Fatalf("category: %d %s", r.Status, r.Body)
	}
	// An edit reloaded on a follower is deployed through the log, so every
	// node switches at the same index.
	editRule(t, rules, "category.lua", `name = { type = "string", required = true, unique = true },`,
		`name = { type = "string", required = true, unique = true, max_length = 3 },`)
	if r := followers[0].must("POST", "/api/_rules/reload", ""); r.Status != 200 {
		t.Fatalf("reload on a follower: %d %s", r.Status, r.Body)
	}
	for _, c := range nodes {
		c.must("GET", "/api/categories?consistency=linearizable", "")
		if r := c.must("POST", "/api/categories", `{"name":"toolong"}`); r.Status != 422 {
			t.Errorf("%s after the reload: %d %s (rules %s)\n%s", c.id, r.Status, r.Body, r.Header.Get("X-Lithair-Rules-Version"), c.logs())
		}
		if v := c.must("GET", "/api/categories", "").Header.Get("X-Lithair-Rules-Version"); v != nodes[0].must("GET", "/readyz", "").Header.Get("X-Lithair-Rules-Version") && v == "" {
			t.Errorf("%s: rules version %q", c.id, v)
		}
	}
}

func TestClusterMembership(t *testing.T) {
	nodes := startCluster(t, 3)
	leader, followers := leaderOf(t, nodes)

	// A node without the secret cannot join.
	intruder := &clusterNode{id: "evil", raft: freeAddr(t), dir: t.TempDir(), join: strings.TrimPrefix(leader.baseURL, "http://")}
	intruder.node = startWithEnv(t, intruder.dir, []string{"LITHAIR_CLUSTER_SECRET=not-the-cluster-secret!"},
		"--node-id", intruder.id, "--raft", intruder.raft, "--join", intruder.join)
	time.Sleep(1500 * time.Millisecond)
	if v := clusterOf(t, leader.node); len(v.Nodes) != 3 {
		t.Fatalf("a node with the wrong secret joined: %+v", v)
	}
	if !strings.Contains(intruder.logs(), "not signed with the cluster secret") {
		t.Errorf("the intruder was not told why:\n%s", intruder.logs())
	}
	intruder.kill()

	// A follower restarted rejoins without changing the membership.
	f := followers[0]
	f.stop()
	f.start(t)
	waitReady(t, f.node)
	if v := clusterOf(t, leader.node); len(v.Nodes) != 3 {
		t.Fatalf("after a rejoin: %+v", v)
	}
	// A node is removed by an admin, on any node.
	if r := followers[1].must("DELETE", "/api/_cluster/nodes/"+f.id, ""); r.Status != 204 {
		t.Fatalf("remove: %d %s", r.Status, r.Body)
	}
	if v := clusterOf(t, leader.node); len(v.Nodes) != 2 {
		t.Fatalf("after the removal: %+v", v)
	}
	if r := leader.must("DELETE", "/api/_cluster/nodes/nobody", ""); r.Status != 404 {
		t.Fatalf("removing an unknown node: %d %s", r.Status, r.Body)
	}
	// A leader asked to stop hands leadership over first.
	start := time.Now()
	leader.stop()
	next, _ := leaderOf(t, []*clusterNode{followers[1]})
	if next.id != followers[1].id || time.Since(start) > 15*time.Second {
		t.Fatalf("leadership after the leader stopped: %s in %s", next.id, time.Since(start))
	}
	if !strings.Contains(leader.logs(), "leadership handed over") {
		t.Errorf("the leader did not hand over:\n%s", leader.logs())
	}
}
