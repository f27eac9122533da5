package firewall

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		edit func(*Config)
		key  string // the option the error names; "" for a valid config
		text string // a part of the message
	}{
		{name: "defaults are valid", edit: func(*Config) {}},
		{name: "every limit off is valid", edit: func(c *Config) { *c = Config{} }},
		{name: "IPv4, IPv6, single and CIDR entries", edit: func(c *Config) {
			c.Allow = []string{"10.0.0.1", "10.0.0.0/8", "2001:db8::1", "2001:db8::/32", " 192.0.2.0/24 "}
		}},
		{name: "prefix length past 32 names the entry", edit: func(c *Config) { c.Allow = []string{"10.0.0.0/8", "10.0.0.0/33"} }, key: "allow", text: `entry 2 "10.0.0.0/33"`},
		{name: "host name in the deny list", edit: func(c *Config) { c.Deny = []string{"example.com"} }, key: "deny", text: `"example.com"`},
		{name: "empty entry in trusted proxies", edit: func(c *Config) { c.TrustedProxies = []string{""} }, key: "trusted_proxies", text: "entry 1"},
		{name: "IPv6 zone cannot match", edit: func(c *Config) { c.Deny = []string{"fe80::1%eth0"} }, key: "deny", text: "zone"},
		{name: "short IPv4-mapped prefix", edit: func(c *Config) { c.Deny = []string{"::ffff:0:0/80"} }, key: "deny", text: "/96"},
		{name: "negative rate", edit: func(c *Config) { c.Rate = -1 }, key: "rate", text: ">= 0"},
		{name: "NaN global rate", edit: func(c *Config) { c.GlobalRate, c.GlobalBurst = math.NaN(), 1 }, key: "global_rate", text: "finite"},
		{name: "infinite login rate", edit: func(c *Config) { c.LoginRate = math.Inf(1) }, key: "login_rate", text: "finite"},
		{name: "burst 0 with a rate", edit: func(c *Config) { c.Burst = 0 }, key: "burst", text: ">= 1"},
		{name: "global burst 0 with a global rate", edit: func(c *Config) { c.GlobalRate = 100 }, key: "global_burst", text: "global_rate"},
		{name: "negative burst", edit: func(c *Config) { c.Rate, c.Burst = 0, -1 }, key: "burst", text: ">= 0"},
		{name: "login limit without a path", edit: func(c *Config) { c.LoginPath = "" }, key: "login_path", text: "path"},
		{name: "no login path needed when the login limit is off", edit: func(c *Config) { c.LoginRate, c.LoginPath = 0, "" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.edit(&c)
			err := c.Validate()
			_, newErr := New(c, 0)
			if tc.key == "" {
				if err != nil || newErr != nil {
					t.Fatalf("Validate: %v; New: %v", err, newErr)
				}
				return
			}
			if err == nil || newErr == nil {
				t.Fatalf("Validate: %v; New: %v; want an error naming %s", err, newErr, tc.key)
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Key != tc.key {
				t.Fatalf("error %q does not name option %q", err, tc.key)
			}
			if !strings.Contains(err.Error(), "firewall."+tc.key+": ") || !strings.Contains(err.Error(), tc.text) {
				t.Errorf("error %q lacks %q", err, tc.text)
			}
		})
	}
}

func TestConfigValidateReportsEveryProblem(t *testing.T) {
	c := Config{Allow: []string{"x"}, Deny: []string{"y"}, Rate: -1, LoginRate: 1}
	err := c.Validate()
	var keys []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		keys = append(keys, e.(*ConfigError).Key)
	}
	if got := strings.Join(keys, ","); got != "allow,deny,rate,login_burst,login_path" {
		t.Errorf("problems reported for %s, want allow,deny,rate,login_burst,login_path (%v)", got, err)
	}
}

func TestConfigDecodesFromTOML(t *testing.T) {
	var doc struct {
		Firewall Config `toml:"firewall"`
	}
	doc.Firewall = DefaultConfig()
	_, err := toml.Decode(`
[firewall]
allow = ["10.0.0.0/8", "2001:db8::/32"]
deny = ["10.6.6.6"]
trusted_proxies = ["127.0.0.1"]
rate = 50.5
burst = 100
global_rate = 5000
global_burst = 10000
login_rate = 0.2
login_burst = 5
login_path = "/login"
`, &doc)
	if err != nil {
		t.Fatal(err)
	}
	c := doc.Firewall
	if len(c.Allow) != 2 || c.Deny[0] != "10.6.6.6" || c.TrustedProxies[0] != "127.0.0.1" ||
		c.Rate != 50.5 || c.Burst != 100 || c.GlobalRate != 5000 || c.GlobalBurst != 10000 ||
		c.LoginRate != 0.2 || c.LoginBurst != 5 || c.LoginPath != "/login" {
		t.Errorf("decoded %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
}
