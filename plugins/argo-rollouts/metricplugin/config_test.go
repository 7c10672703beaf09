package metricplugin

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseConfig(t *testing.T) {
	c, err := ParseConfig([]byte(`{"query":" datadogmetric@shop:checkout-error-rate ","address":"https://m.example:8443","insecureSkipVerify":true,
		"secretRef":{"name":"ext"},"aggregate":"max","maxAge":"2m","timeout":"10s"}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Canonical != "default/datadogmetric@shop:checkout-error-rate?aggregate=max&maxAge=2m0s" || c.Timeout != 10*time.Second ||
		c.SecretRef == nil || c.SecretRef.Name != "ext" || c.SecretRef.Key != DefaultTokenKey || !c.InsecureSkipVerify || c.Address != "https://m.example:8443" {
		t.Fatalf("%+v %+v", c, c.SecretRef)
	}
	// Parameters in the query and the same values as keys agree.
	if c, err := ParseConfig([]byte(`{"query":"shop/m?aggregate=sum&maxAge=1m","aggregate":"sum","maxAge":"60s","secretRef":{"name":"x","key":"api-token"}}`)); err != nil || c.Canonical != "shop/m?aggregate=sum&maxAge=1m0s" || c.SecretRef.Key != "api-token" {
		t.Fatalf("%+v %v", c, err)
	}
	// maxAge follows analysis.ParseMaxAge: auto (the default bound), 0 or
	// 0s (off), a duration (the query's maxAge=).
	for in, want := range map[string]time.Duration{`"auto"`: 0, `"0"`: -1, `"0s"`: -1} {
		if c, err := ParseConfig([]byte(`{"query":"m","maxAge":` + in + `}`)); err != nil || c.StaleAfter != want || c.Parsed.MaxAge != 0 {
			t.Errorf("maxAge %s: %+v %v", in, c, err)
		}
	}
	// insecureSkipVerify without address is ignored by the connection rule
	// (provider.Connection), as in analyze and the gate; the opt-in parses.
	if c, err := ParseConfig([]byte(`{"query":"m","insecureSkipVerify":true,"allowCredentialsOverHTTP":true}`)); err != nil || !c.AllowCredentialsOverHTTP {
		t.Fatalf("%+v %v", c, err)
	}
	// A baseline: the same aggregate and maxAge apply to it.
	if c, err := ParseConfig([]byte(`{"query":"shop/m?labelSelector=app%3Dweb-canary","baseline":"shop/m?labelSelector=app%3Dweb","compare":"ratio","aggregate":"sum","maxAge":"2m"}`)); err != nil ||
		c.Baseline != "shop/m?labelSelector=app=web&aggregate=sum&maxAge=2m0s" || c.Compare != CompareRatio {
		t.Fatalf("baseline: %+v %v", c, err)
	}
	// null values are as if absent.
	if c, err := ParseConfig([]byte(`{"query":"m","address":null}`)); err != nil || c.Address != "" {
		t.Fatalf("%+v %v", c, err)
	}
}

func TestParseConfigErrors(t *testing.T) {
	for _, c := range []struct{ in, field, msg string }{
		{``, "", "no configuration"},
		{`null`, "", "no configuration"},
		{`[]`, "", "want an object"},
		{`"m"`, "", "want an object"},
		{`{"query":"m",`, "", "want an object"},
		{`{}`, "query", "missing"},
		{`{"query":"  "}`, "query", "missing"},
		{`{"query":7}`, "query", "want a string"},
		{`{"query":"m","Query":"m"}`, "Query", `did you mean "query"`},
		{`{"query":"m","token":"s3cret"}`, "token", "unknown key"},
		{`{"query":"a/b/c"}`, "query", `"a/b/c"`},
		{`{"query":"m?labelSelector=a in (b"}`, "query", "labelSelector"},
		{`{"query":"{{args.ns}}/m"}`, "query", "template expression"},
		{`{"query":"m","aggregate":"median"}`, "aggregate", "not one of"},
		{`{"query":"m?aggregate=sum","aggregate":"max"}`, "aggregate", "conflicts"},
		{`{"query":"m","maxAge":"-1m"}`, "maxAge", "must not be negative"},
		{`{"query":"m","maxAge":"5"}`, "maxAge", "want auto, 0 (off) or a Go duration"},
		{`{"query":"m?maxAge=1m","maxAge":"0"}`, "maxAge", "conflicts"},
		{`{"query":"m","allowCredentialsOverHTTP":"yes"}`, "allowCredentialsOverHTTP", "true or false"},
		{`{"query":"m?maxAge=1m","maxAge":"2m"}`, "maxAge", "conflicts"},
		{`{"query":"m","timeout":"0s"}`, "timeout", "between"},
		{`{"query":"m","timeout":"3m"}`, "timeout", "between"},
		{`{"query":"m","address":"ftp://x"}`, "address", "https://"},
		{`{"query":"m","address":"https://"}`, "address", "no host"},
		{`{"query":"m","address":"https://u:p@x"}`, "address", "credentials"},
		{`{"query":"m","address":"https://x?a=b"}`, "address", "no query"},
		{`{"query":"m","address":"%zz"}`, "address", "not a URL"},
		{`{"query":"m","insecureSkipVerify":"true","address":"https://x"}`, "insecureSkipVerify", "true or false"},
		{`{"query":"m","secretRef":"name"}`, "secretRef", "want an object"},
		{`{"query":"m","secretRef":{}}`, "secretRef.name", "missing"},
		{`{"query":"m","secretRef":{"name":"x","namespace":"kube-system"}}`, "secretRef.namespace", "unknown key"},
		{`{"query":"m","secretRef":{"name":1}}`, "secretRef.name", "want a string"},
		{`{"query":"m","secretRef":{"name":"` + strings.Repeat("a", 254) + `"}}`, "secretRef.name", "253"},
		{`{"query":"` + strings.Repeat("a", 70<<10) + `"}`, "", "bytes"},
		{`{"query":"m","baseline":"b"}`, "compare", "with a baseline, want ratio"},
		{`{"query":"m","baseline":"b","compare":"Ratio"}`, "compare", "want ratio"},
		{`{"query":"m","compare":"delta"}`, "compare", "needs a baseline"},
		{`{"query":"m","baseline":"{{args.primary}}","compare":"delta"}`, "baseline", "template expression"},
		{`{"query":"m","baseline":"a/b/c","compare":"delta"}`, "baseline", `"a/b/c"`},
		{`{"query":"m","baseline":7,"compare":"delta"}`, "baseline", "want a string"},
		{`{"query":"m","baseline":"b?aggregate=sum","aggregate":"max","compare":"delta"}`, "aggregate", "conflicts with aggregate=sum in the baseline"},
	} {
		_, err := ParseConfig([]byte(c.in))
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Field != c.field || !strings.Contains(err.Error(), c.msg) || !strings.HasPrefix(err.Error(), PluginName+": ") {
			t.Errorf("%.60s: %v (field %q); want field %q and %q", c.in, err, fieldOf(ce), c.field, c.msg)
		}
		if strings.Contains(c.in, "s3cret") && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("value of an unknown key echoed: %v", err)
		}
	}
}

func fieldOf(ce *ConfigError) string {
	if ce == nil {
		return "<none>"
	}
	return ce.Field
}

func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{`{"query":"m"}`, `{"query":"ns/m?labelSelector=a%3Db","aggregate":"sum","maxAge":"1m","timeout":"2s","address":"https://x","insecureSkipVerify":true,"secretRef":{"name":"s","key":"k"}}`, `{"secretRef":{"name":null}}`, `[`, `{"query":"m","baseline":"ns/b?aggregate=max","compare":"ratio","maxAge":"0"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseConfig([]byte(s))
		if (c == nil) == (err == nil) {
			t.Fatalf("config %v and error %v", c, err)
		}
		if err == nil {
			if c.Canonical == "" || c.Timeout < 0 || c.Timeout > MaxTimeout || (c.SecretRef != nil && (c.SecretRef.Name == "" || c.SecretRef.Key == "")) {
				t.Fatalf("invalid config accepted: %+v", c)
			}
			if (c.Baseline == "") != (c.Compare == "") || (c.Compare != "" && c.Compare != CompareRatio && c.Compare != CompareDelta) {
				t.Fatalf("baseline %q compare %q accepted", c.Baseline, c.Compare)
			}
			if _, err := ParseConfig([]byte(`{"query":` + quote(c.Canonical) + `}`)); err != nil {
				t.Fatalf("canonical query %q does not parse: %v", c.Canonical, err)
			}
		}
	})
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
