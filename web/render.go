package web

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"html/template"
	"slices"
	"strconv"
	"strings"
	"time"
)

var (
	funcs = template.FuncMap{
		"datetime": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
		"date":     func(t time.Time) string { return t.UTC().Format("2 January 2006") },
		"iso":      func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"fp":       fingerprint,
		"days":     func(d Duration) string { return days(time.Duration(d)) },
		"endpoints": func(title, id string, list []Endpoint) endpointTable {
			return endpointTable{Title: title, ID: id, List: list, Indexed: id == "acs"}
		},
	}
	publicTmpl = parse("public.html")
	adminTmpl  = parse("admin.html")
	loginTmpl  = parse("login.html")
)

// layout is what the layout template needs besides the page's own data.
type layout struct {
	Title  string
	Style  template.CSS
	Script template.JS
}

func newLayout(title string) layout {
	return layout{Title: title, Style: template.CSS(style), Script: template.JS(script)}
}

// fingerprint lets a colon-form fingerprint wrap only after a colon, so a
// pair is never split across lines.
func fingerprint(s string) template.HTML {
	return template.HTML(strings.ReplaceAll(template.HTMLEscapeString(s), ":", ":<wbr>"))
}

type endpointTable struct {
	Title, ID string
	List      []Endpoint
	Indexed   bool
}

type publicView struct {
	layout
	Public
	Next  []Cert
	Cards []card
}

type card struct {
	Cert
	Expires string // "expires in 90 days"
	Soon    bool   // within 30 days or expired
}

// RenderPublic renders the public page from p. The result is meant to be
// kept for the life of the snapshot p came from (see Cache).
func RenderPublic(p Public) (*Page, error) {
	v := publicView{layout: newLayout("SAML service provider " + p.EntityID), Public: p}
	var times []time.Time
	for _, c := range p.Certs {
		if c.State == "next" {
			v.Next = append(v.Next, c)
		}
		d := c.NotAfter.Sub(p.Now)
		v.Cards = append(v.Cards, card{Cert: c, Expires: expiresIn(d), Soon: d < 30*24*time.Hour})
		times = append(times, c.NotAfter)
	}
	var buf bytes.Buffer
	if err := publicTmpl.Execute(&buf, v); err != nil {
		return nil, fmt.Errorf("render public page: %w", err)
	}
	return newPage(buf.Bytes(), "", hdrPublicCache, staleAt(p.Now, times, nil)), nil
}

type adminView struct {
	layout
	Admin
	CSRF     string
	Problems int
	Expiring []expiryRow
}

type expiryRow struct {
	Expiry
	Left  string // "in 12 days", "expired 2 days ago"
	Level string // ok, notice, warn, bad
	Label string // what the colour means, in words
}

// RenderAdmin renders the operator page from a. The page has a hole for
// the per-session CSRF token of its sign-out form, which the Handler
// fills; the rest is rendered once.
func RenderAdmin(a Admin) (*Page, error) {
	hole := "csrf-" + rand.Text()
	v := adminView{layout: newLayout("samlkeyd status"), Admin: a, CSRF: hole}
	v.Expiring, v.Problems = expiryRows(a)
	for _, c := range a.Components {
		if !c.OK {
			v.Problems++
		}
	}
	for _, c := range a.Checks {
		if c.Last != nil && !c.Last.OK {
			v.Problems++
		}
	}
	var buf bytes.Buffer
	if err := adminTmpl.Execute(&buf, v); err != nil {
		return nil, fmt.Errorf("render admin page: %w", err)
	}
	if n := bytes.Count(buf.Bytes(), []byte(hole)); n != 1 {
		return nil, fmt.Errorf("render admin page: csrf hole appears %d times, want 1", n)
	}
	var times []time.Time
	for _, e := range a.Expiry {
		times = append(times, e.NotAfter)
	}
	return newPage(buf.Bytes(), hole, hdrAdminCache, staleAt(a.Now, times, a.Thresholds)), nil
}

// expiryRows sorts the expiry list soonest first and colours each entry by
// the alert thresholds it has crossed: the smallest third of the
// thresholds (and expiry itself) are "bad", the middle third "warn", the
// rest "notice". It returns the rows and how many are bad.
func expiryRows(a Admin) ([]expiryRow, int) {
	th := slices.Clone(a.Thresholds)
	slices.Sort(th) // ascending: the most urgent first
	rows := make([]expiryRow, 0, len(a.Expiry))
	bad := 0
	for _, e := range a.Expiry {
		d := e.NotAfter.Sub(a.Now)
		r := expiryRow{Expiry: e, Left: expiresIn(d), Level: "ok", Label: "no alert threshold crossed"}
		switch i, crossed := crossedThreshold(th, d); {
		case d <= 0:
			r.Level, r.Label = "bad", "expired"
		case crossed:
			r.Label = "within the " + days(time.Duration(th[i])) + " alert threshold"
			switch {
			case i < (len(th)+2)/3:
				r.Level = "bad"
			case i < (2*len(th)+2)/3:
				r.Level = "warn"
			default:
				r.Level = "notice"
			}
		}
		if r.Level == "bad" {
			bad++
		}
		rows = append(rows, r)
	}
	slices.SortStableFunc(rows, func(x, y expiryRow) int { return x.NotAfter.Compare(y.NotAfter) })
	return rows, bad
}

// crossedThreshold returns the index of the smallest threshold (sorted
// ascending) that d is within.
func crossedThreshold(th []Duration, d time.Duration) (int, bool) {
	for i, t := range th {
		if d <= time.Duration(t) {
			return i, true
		}
	}
	return 0, false
}

func days(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		n := int(d / (24 * time.Hour))
		if n == 1 {
			return "1 day"
		}
		return strconv.Itoa(n) + " days"
	}
	return d.String()
}

// expiresIn says when something d from now expires, in whole days.
func expiresIn(d time.Duration) string {
	n := int(d / (24 * time.Hour))
	switch {
	case d > 0 && n == 0:
		return "expires in less than a day"
	case d > 0:
		return "expires in " + plural(n, "day")
	case n == 0:
		return "expired less than a day ago"
	default:
		return "expired " + plural(-n, "day") + " ago"
	}
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.Itoa(n) + " " + unit + "s"
}

// staleAt returns when text rendered at now about the given expiry times
// next changes: a whole-day count ticks over or a threshold is crossed.
// It is at least a minute and at most a day after now.
func staleAt(now time.Time, times []time.Time, thresholds []Duration) time.Time {
	const day = 24 * time.Hour
	next := now.Add(day)
	consider := func(t time.Time) {
		if t.After(now) && t.Before(next) {
			next = t
		}
	}
	for _, t := range times {
		d := t.Sub(now)
		if d > 0 {
			consider(now.Add(d % day))
		} else {
			consider(now.Add(day + d%day))
		}
		consider(t)
		for _, th := range thresholds {
			consider(t.Add(-time.Duration(th)))
		}
	}
	if min := now.Add(time.Minute); next.Before(min) {
		return min
	}
	return next
}
