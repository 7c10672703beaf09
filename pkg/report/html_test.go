package report

import (
	"bytes"
	"strings"
	"testing"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

func parseHTML(t *testing.T, data []byte) *html.Node {
	t.Helper()
	doc, err := html.Parse(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("parsing HTML: %v", err)
	}
	return doc
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func hasClass(n *html.Node, classes ...string) bool {
	have := strings.Fields(attr(n, "class"))
	for _, want := range classes {
		found := false
		for _, h := range have {
			found = found || h == want
		}
		if !found {
			return false
		}
	}
	return true
}

// findAll returns the elements under n (inclusive) named tag ("" = any) that
// carry all the classes.
func findAll(n *html.Node, tag string, classes ...string) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && (tag == "" || n.Data == tag) && hasClass(n, classes...) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

func byID(n *html.Node, id string) *html.Node {
	var found *html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if found != nil {
			return
		}
		if n.Type == html.ElementNode && attr(n, "id") == id {
			found = n
			return
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return found
}

func text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return b.String()
}

// childTitle is the text of the <title> child of an SVG element (its tooltip).
func childTitle(n *html.Node) string {
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if c.Type == html.ElementNode && c.Data == "title" {
			return text(c)
		}
	}
	return ""
}

func TestHTMLReport(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteHTML(&buf, sampleReport()); err != nil {
		t.Fatal(err)
	}
	doc := parseHTML(t, buf.Bytes())

	charts := findAll(doc, "svg", "chart")
	if len(charts) != 4 {
		t.Fatalf("charts = %d, want one per metric (4)", len(charts))
	}
	type want struct {
		band              string // class list of the band rect
		pass, fail, noval int
		xticks            int
	}
	wants := map[string]want{
		"chart-0-0": {"band", 6, 0, 0, 6},           // error-rate [0, 1]
		"chart-0-1": {"band open-low", 5, 1, 0, 6},  // latency ≤ 500, run 3 failed
		"chart-1-0": {"band open-low", 2, 1, 1, 4},  // dd-error-rate ≤ 0.05, run 3 out of range, run 4 no data
		"chart-1-1": {"band open-high", 4, 0, 0, 4}, // throughput ≥ 10
	}
	for _, c := range charts {
		id := attr(c, "id")
		w, ok := wants[id]
		if !ok {
			t.Errorf("unexpected chart id %q", id)
			continue
		}
		bands := findAll(c, "rect", "band")
		if len(bands) != 1 || attr(bands[0], "class") != w.band {
			t.Errorf("%s: band %v, want one of class %q", id, bands, w.band)
		}
		if got := len(findAll(c, "circle", "point", "pass")); got != w.pass {
			t.Errorf("%s: pass points = %d, want %d", id, got, w.pass)
		}
		fails := findAll(c, "circle", "point", "fail")
		if len(fails) != w.fail {
			t.Errorf("%s: fail points = %d, want %d", id, len(fails), w.fail)
		}
		novals := findAll(c, "", "point", "fail", "novalue")
		if len(novals) != w.noval {
			t.Errorf("%s: no-value marks = %d, want %d", id, len(novals), w.noval)
		}
		if got := len(findAll(findAll(c, "g", "x-axis")[0], "g", "tick")); got != w.xticks {
			t.Errorf("%s: x ticks = %d, want %d", id, got, w.xticks)
		}
		if len(findAll(c, "g", "y-axis")) != 1 || len(findAll(findAll(c, "g", "y-axis")[0], "g", "tick")) < 3 {
			t.Errorf("%s: y axis needs at least 3 ticks", id)
		}
		if len(findAll(c, "path", "line")) != 1 {
			t.Errorf("%s: want one value line", id)
		}
		if attr(c, "role") != "img" || childTitle(c) == "" {
			t.Errorf("%s: chart needs role=img and a title", id)
		}
	}
	fail := findAll(byID(doc, "chart-1-0"), "circle", "point", "fail")[0]
	if got := childTitle(fail); !strings.Contains(got, "run 3, step 3 (weight 30%)") ||
		!strings.Contains(got, "0.081 > 0.05") || !strings.Contains(got, "out-of-range: value 0.081 is above the maximum 0.05") {
		t.Errorf("fail point tooltip = %q", got)
	}
	noval := findAll(byID(doc, "chart-1-0"), "", "novalue")[0]
	if got := childTitle(noval); !strings.Contains(got, `no-data: no values for "datadogmetric@shop:checkout-errors"`) {
		t.Errorf("no-value tooltip = %q", got)
	}

	// Verdict banners, summaries, queries, the check table.
	for id, verdict := range map[string]string{"canary-0": "succeeded", "canary-1": "failed"} {
		sec := byID(doc, id)
		if sec == nil {
			t.Fatalf("no section %s", id)
		}
		banner := findAll(sec, "div", "verdict", "verdict-"+verdict)
		if len(banner) != 1 || attr(banner[0], "role") != "status" ||
			!strings.Contains(strings.ToLower(text(banner[0])), verdict) {
			t.Errorf("%s: verdict banner for %s missing or without text", id, verdict)
		}
	}
	summary := text(findAll(byID(doc, "canary-1"), "dl", "summary")[0])
	for _, s := range []string{"2 / 5", "30%", "2 / 2", "30s", "2m0s", "4"} {
		if !strings.Contains(summary, s) {
			t.Errorf("checkout summary lacks %q: %s", s, summary)
		}
	}
	var queries []string
	for _, q := range findAll(doc, "code", "query") {
		queries = append(queries, text(q))
	}
	if strings.Join(queries, "|") != "demo/requests-error-rate?labelSelector=app%3Dpodinfo|demo/request-duration-p99?labelSelector=app%3Dpodinfo|shop/datadogmetric@shop:checkout-errors|shop/datadogmetric@shop:checkout-rps" {
		t.Errorf("rendered queries = %q", queries)
	}
	rows := findAll(byID(doc, "canary-1"), "tr", "fail")
	if len(rows) != 2 {
		t.Errorf("failed rows in checkout table = %d, want 2", len(rows))
	}
	if got := len(findAll(findAll(byID(doc, "canary-0"), "tbody")[0], "tr")); got != 12 {
		t.Errorf("podinfo table rows = %d, want 12", got)
	}
	if !strings.Contains(text(rows[1]), "no-data") {
		t.Errorf("second failed row should be the no-data check: %q", text(rows[1]))
	}
	assertSelfContained(t, doc)
}

// assertSelfContained fails on anything that would load another resource.
func assertSelfContained(t *testing.T, doc *html.Node) {
	t.Helper()
	for _, n := range findAll(doc, "") {
		switch n.DataAtom {
		case atom.Script, atom.Link, atom.Img, atom.Iframe, atom.Object, atom.Embed:
			t.Errorf("external or active element <%s>", n.Data)
		}
		for _, a := range n.Attr {
			switch {
			case a.Key == "src", a.Key == "srcset", strings.HasPrefix(a.Key, "on"):
				t.Errorf("<%s %s=%q>", n.Data, a.Key, a.Val)
			case a.Key == "href" && !strings.HasPrefix(a.Val, "#"):
				t.Errorf("<%s href=%q> leaves the page", n.Data, a.Val)
			}
		}
		if n.DataAtom == atom.Style && (strings.Contains(text(n), "url(") || strings.Contains(text(n), "@import")) {
			t.Error("style loads a resource")
		}
	}
}

func TestHTMLEscapesHostileInput(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteHTML(&buf, hostileReport()); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, bad := range []string{"<script", "<img", "<b>", "<i>", "\x1b", "\x00"} {
		if strings.Contains(strings.ToLower(out), bad) {
			t.Errorf("output contains %q unescaped", bad)
		}
	}
	doc := parseHTML(t, buf.Bytes())
	assertSelfContained(t, doc)
	// The hostile strings are shown as text, exactly.
	if got := text(byID(doc, "canary-0-title")); got != "ns<i>/"+hostileName {
		t.Errorf("heading = %q", got)
	}
	var queries []string
	for _, q := range findAll(doc, "code", "query") {
		queries = append(queries, text(q))
	}
	if len(queries) != 2 || queries[0] != hostileQuery {
		t.Errorf("queries = %q", queries)
	}
	fail := findAll(doc, "circle", "point", "fail")
	if len(fail) != 1 || !strings.Contains(childTitle(fail[0]), "</title><script>alert(2)</script>") {
		t.Errorf("fail point tooltip should carry the message as text: %v", fail)
	}
	if len(findAll(doc, "", "novalue")) != 1 {
		t.Error("want one no-value mark")
	}
	// Aborted is amber, never green; the metric that never ran has an empty chart.
	if len(findAll(doc, "div", "verdict-aborted")) != 1 || len(findAll(doc, "div", "verdict-succeeded")) != 0 {
		t.Error("aborted verdict banner wrong")
	}
	if len(findAll(byID(doc, "chart-0-1"), "text", "empty")) != 1 {
		t.Error("metric without checks should say so in its chart")
	}
	if !strings.Contains(text(doc), "Weight—") && !strings.Contains(text(findAll(doc, "dl", "summary")[0]), "—") {
		t.Error("iterations strategy shows no weight")
	}
}

func TestHTMLEmptyReport(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteHTML(&buf, &analysisReportZero); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "No canaries were analysed.") {
		t.Error("empty report should say there is nothing")
	}
	if err := WriteHTML(&buf, nil); err == nil {
		t.Error("nil report: want an error")
	}
}
