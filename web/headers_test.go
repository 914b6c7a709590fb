package web_test

import (
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// csp parses a Content-Security-Policy into its directives.
func csp(header string) map[string][]string {
	out := map[string][]string{}
	for _, d := range strings.Split(header, ";") {
		fields := strings.Fields(d)
		if len(fields) > 0 {
			out[fields[0]] = fields[1:]
		}
	}
	return out
}

func wantSecurityHeaders(t *testing.T, what string, res response) {
	t.Helper()
	policy := csp(res.header.Get("Content-Security-Policy"))
	scripts := strings.Join(policy["script-src"], " ")
	if scripts != "'self'" {
		t.Errorf("%s: script-src is %q, want only 'self' (no inline, no eval, no other host)", what, scripts)
	}
	for directive, want := range map[string]string{
		"default-src": "'self'", "frame-ancestors": "'none'", "object-src": "'none'",
		"base-uri": "'self'", "form-action": "'self'", "style-src": "'self'",
	} {
		if got := strings.Join(policy[directive], " "); got != want {
			t.Errorf("%s: CSP %s is %q, want %q", what, directive, got, want)
		}
	}
	for header, want := range map[string]string{
		"X-Content-Type-Options": "nosniff",
		"Referrer-Policy":        "same-origin",
		"X-Frame-Options":        "DENY",
	} {
		if got := res.header.Get(header); got != want {
			t.Errorf("%s: %s is %q, want %q", what, header, got, want)
		}
	}
}

func TestEveryKindOfResponseSendsTheSecurityHeaders(t *testing.T) {
	ta := newTestApp(t)
	d := ta.departure("Riga")
	anon, c := ta.client(), ta.loggedIn("dispatcher")
	wantSecurityHeaders(t, "the login page", anon.get("/login"))
	wantSecurityHeaders(t, "a redirect to the login", anon.get("/departures"))
	wantSecurityHeaders(t, "a page", c.get("/departures/"+d.PublicID()))
	wantSecurityHeaders(t, "an htmx fragment", c.htmx("/departures/"+d.PublicID()+"/status", "dep-"+d.PublicID(), statusForm("Loading", d.Version)))
	wantSecurityHeaders(t, "a 404 page", c.get("/no/such/page"))
	wantSecurityHeaders(t, "a 422 page", c.get("/departures?date=bad"))
	wantSecurityHeaders(t, "a 403 page", c.get("/admin/users"))
	wantSecurityHeaders(t, "a static file", anon.get("/static/css/app.css"))
	wantSecurityHeaders(t, "the health check", anon.get("/healthz"))
}

// pageProblems lists what in an HTML document a strict CSP would block, or what lets text run
// as code: inline scripts and event handlers, inline styles, javascript: URLs, and htmx
// attributes that evaluate JavaScript. Pages must have none; an injected payload shows up here.
func pageProblems(doc *html.Node) []string {
	var problems []string
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			switch n.DataAtom {
			case atom.Script:
				src := attr(n, "src")
				if !strings.HasPrefix(src, "/static/") {
					problems = append(problems, "a <script> not from /static/ (src="+src+")")
				}
			case atom.Style:
				problems = append(problems, "an inline <style> element")
			case atom.Iframe, atom.Object, atom.Embed, atom.Base:
				problems = append(problems, "a <"+n.Data+"> element")
			}
			for _, a := range n.Attr {
				key, val := strings.ToLower(a.Key), strings.ToLower(strings.TrimSpace(a.Val))
				switch {
				case strings.HasPrefix(key, "on"):
					problems = append(problems, "an inline event handler "+a.Key+" on <"+n.Data+">")
				case key == "style":
					problems = append(problems, "an inline style on <"+n.Data+">")
				case strings.HasPrefix(key, "hx-on") || strings.HasPrefix(key, "data-hx-on"):
					problems = append(problems, "an htmx event handler "+a.Key+" (needs eval)")
				case (key == "hx-vals" || key == "hx-vars") && strings.Contains(val, "js:"):
					problems = append(problems, "htmx "+a.Key+" with js: (needs eval)")
				case key == "href" || key == "src" || key == "action" || key == "formaction" || key == "xlink:href" ||
					strings.HasPrefix(key, "hx-get") || strings.HasPrefix(key, "hx-post"):
					if scheme, _, ok := strings.Cut(val, ":"); ok && !strings.ContainsAny(scheme, "/?#") &&
						scheme != "http" && scheme != "https" && scheme != "ws" && scheme != "wss" && scheme != "mailto" {
						problems = append(problems, "a "+scheme+": URL in "+a.Key+" on <"+n.Data+">")
					}
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return problems
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func parseHTML(t *testing.T, body string) *html.Node {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatalf("not HTML: %v", err)
	}
	return doc
}

// TestEveryPageWorksUnderTheCSP walks every GET route as an admin: each page must work under
// the Content-Security-Policy, with htmx kept from eval and inline script.
func TestEveryPageWorksUnderTheCSP(t *testing.T) {
	ta := walkApp(t)
	c := ta.loggedIn("boss")
	pages := 0
	for _, r := range ta.routes() {
		if r.Method != fiber.MethodGet || strings.HasPrefix(r.Path, "/ws/") {
			continue
		}
		res := c.get(r.URL)
		if res.status >= 400 {
			t.Errorf("%s as an admin: %d", r, res.status)
			continue
		}
		if !strings.HasPrefix(res.header.Get("Content-Type"), "text/html") {
			continue
		}
		pages++
		doc := parseHTML(t, res.body)
		for _, p := range pageProblems(doc) {
			t.Errorf("%s: %s", r, p)
		}
		if !strings.Contains(res.body, `&#34;allowEval&#34;:false`) || !strings.Contains(res.body, `&#34;allowScriptTags&#34;:false`) ||
			!strings.Contains(res.body, `&#34;includeIndicatorStyles&#34;:false`) {
			t.Errorf("%s: htmx is not configured to need no eval, inline script or inline style", r)
		}
	}
	if pages < 6 {
		t.Fatalf("only %d HTML pages checked", pages)
	}
}

func TestPageProblemsFindsInjectedCode(t *testing.T) {
	for _, body := range []string{
		`<p><script>alert(1)</script></p>`,
		`<img src=x onerror=alert(1)>`,
		`<a href=" JavaScript:alert(1)">x</a>`,
		`<div hx-on:click="alert(1)"></div>`,
		`<p style="color:red">x</p>`,
		`<form action="data:text/html,x"></form>`,
	} {
		if len(pageProblems(parseHTML(t, body))) == 0 {
			t.Errorf("pageProblems misses %s", body)
		}
	}
	if p := pageProblems(parseHTML(t, `<a href="/departures?q=a:b">x</a><script src="/static/js/htmx.min.js"></script>`)); len(p) > 0 {
		t.Errorf("false alarm: %v", p)
	}
}
