package web_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"

	"calipso/tracking"
)

func passwordForm(current, next, confirm string) url.Values {
	return url.Values{"current_password": {current}, "new_password": {next}, "confirm_password": {confirm}}
}

func TestChangingYourPasswordNeedsTheCurrentOneAndAGoodNewOne(t *testing.T) {
	ta := newTestApp(t)
	c := ta.loggedIn("dispatcher")
	c.get("/account/password")
	cases := map[string]struct {
		form  url.Values
		field string
	}{
		"wrong current password": {passwordForm("not it at all", "new password!", "new password!"), "current_password"},
		"too short":              {passwordForm(testPassword, "short", "short"), "new_password"},
		"too long":               {passwordForm(testPassword, strings.Repeat("x", 73), strings.Repeat("x", 73)), "new_password"},
		"confirmation differs":   {passwordForm(testPassword, "new password!", "new password?"), "confirm_password"},
	}
	for name, tc := range cases {
		res := c.post("/account/password", tc.form)
		if res.status != fiber.StatusUnprocessableEntity || !strings.Contains(res.body, `data-field="`+tc.field+`"`) {
			t.Errorf("%s: status %d, want 422 with an error beside %s", name, res.status, tc.field)
		}
	}
	if !ta.loginAs("dispatcher", testPassword) {
		t.Fatal("a refused change changed the password")
	}
}

func TestChangingYourPasswordKeepsThisSessionAndEndsTheOthers(t *testing.T) {
	ta := newTestApp(t)
	here, elsewhere := ta.loggedIn("dispatcher"), ta.loggedIn("dispatcher")
	here.get("/account/password")
	res := here.post("/account/password", passwordForm(testPassword, "new password!", "new password!"))
	if res.status != fiber.StatusSeeOther || res.header.Get("Location") != "/account/password?changed=1" {
		t.Fatalf("status %d Location %q: %s", res.status, res.header.Get("Location"), res.body)
	}
	if page := here.get("/account/password?changed=1"); page.status != 200 || !strings.Contains(page.body, "Your password was changed") {
		t.Fatalf("this session ended or no confirmation: %d", page.status)
	}
	if elsewhere.signedIn() {
		t.Fatal("another session of the user survived the password change")
	}
	if !ta.loginAs("dispatcher", "new password!") || ta.loginAs("dispatcher", testPassword) {
		t.Fatal("the new password must work and the old one not")
	}
}

func TestAdminAddsAUserWhoCanThenLogIn(t *testing.T) {
	ta := newTestApp(t)
	boss := ta.loggedIn("boss")
	boss.get("/admin/users")
	res := boss.post("/admin/users", url.Values{"username": {"olga"}, "role": {"dispatcher"}, "password": {"olga's password"}})
	if res.status != fiber.StatusSeeOther {
		t.Fatalf("add: %d %s", res.status, res.body)
	}
	if page := boss.get(res.header.Get("Location")); !strings.Contains(page.body, "User added.") || !strings.Contains(page.body, ">olga<") {
		t.Fatal("the list does not show the new user")
	}
	if !ta.loginAs("olga", "olga's password") {
		t.Fatal("the new user cannot log in")
	}
}

func TestAddingAUserWithBadInputAnswers422AndAddsNobody(t *testing.T) {
	ta := newTestApp(t)
	boss := ta.loggedIn("boss")
	boss.get("/admin/users")
	cases := map[string]struct {
		form  url.Values
		field string
	}{
		"taken username": {url.Values{"username": {"dispatcher"}, "role": {"dispatcher"}, "password": {"long enough"}}, "username"},
		"bad username":   {url.Values{"username": {"<b>x</b>"}, "role": {"dispatcher"}, "password": {"long enough"}}, "username"},
		"unknown role":   {url.Values{"username": {"olga"}, "role": {"root"}, "password": {"long enough"}}, "role"},
		"short password": {url.Values{"username": {"olga"}, "role": {"admin"}, "password": {"short"}}, "password"},
	}
	for name, tc := range cases {
		res := boss.post("/admin/users", tc.form)
		if res.status != fiber.StatusUnprocessableEntity || !strings.Contains(res.body, `data-field="`+tc.field+`"`) {
			t.Errorf("%s: status %d, want 422 with an error beside %s", name, res.status, tc.field)
		}
	}
	if users, _ := ta.store.Users(context.Background()); len(users) != 2 {
		t.Fatalf("%d users, want the 2 of the test app", len(users))
	}
}

func TestAdminsCannotLockThemselvesOut(t *testing.T) {
	ta := newTestApp(t)
	boss := ta.loggedIn("boss")
	boss.get("/admin/users")
	id := ta.userID("boss")
	if res := boss.post("/admin/users/"+id+"/disable", url.Values{}); res.status != fiber.StatusUnprocessableEntity {
		t.Fatalf("disabling oneself: %d", res.status)
	}
	if res := boss.post("/admin/users/"+id+"/password", url.Values{"password": {"new password!"}}); res.status != fiber.StatusUnprocessableEntity {
		t.Fatalf("setting one's own password without the current one: %d", res.status)
	}
	if !boss.signedIn() || !ta.loginAs("boss", testPassword) {
		t.Fatal("the admin was locked out")
	}
}

func TestUnknownOrMalformedUserIDsAnswer404(t *testing.T) {
	ta := newTestApp(t)
	boss := ta.loggedIn("boss")
	for _, id := range []string{"999999", "abc", "-1", "0", "1e3", "%3Cscript%3E"} {
		if res := boss.post("/admin/users/"+id+"/disable", url.Values{}); res.status != fiber.StatusNotFound {
			t.Errorf("user id %q: %d", id, res.status)
		}
	}
}

func TestChangesMadeThroughTheWebAreAuditedWithUserAndAddress(t *testing.T) {
	ta := newTestApp(t)
	c := ta.loggedIn("dispatcher")
	res := c.post("/departures", validDeparture())
	loc := res.header.Get("Location")
	id := strings.TrimPrefix(loc, "/departures/")
	form := statusForm("Loading", 1)
	form.Set("reason", "dock free")
	if res := c.post(loc+"/status", form); res.status != fiber.StatusSeeOther {
		t.Fatalf("status change: %d", res.status)
	}
	boss := ta.loggedIn("boss")
	if res := boss.post("/admin/users/"+ta.userID("dispatcher")+"/disable", url.Values{}); res.status != fiber.StatusSeeOther {
		t.Fatalf("disable: %d", res.status)
	}
	entries, err := ta.store.AuditLog(context.Background(), tracking.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Username+" "+e.IP+" "+e.Action+" "+e.Subject)
	}
	want := []string{
		"boss 0.0.0.0 user.disable dispatcher",
		"dispatcher 0.0.0.0 departure.status " + id,
		"dispatcher 0.0.0.0 departure.create " + id,
		"(system)  user.create boss", // the test app's users
		"(system)  user.create dispatcher",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("audit trail:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	page := boss.get("/admin/audit?user=dispatcher&action=departure.status")
	if page.status != 200 || strings.Count(page.body, `class="audit-row`) != 1 || !strings.Contains(page.body, "Pending → Loading") {
		t.Fatalf("the filtered audit page: %d %s", page.status, page.body)
	}
	bySubject := boss.get("/admin/audit?subject=" + strings.ToLower(id))
	if strings.Count(bySubject.body, `class="audit-row`) != 2 {
		t.Fatalf("a departure's id typed in lower case finds %d entries, want 2", strings.Count(bySubject.body, `class="audit-row`))
	}
	if bad := boss.get("/admin/audit?from=yesterday&before=x"); bad.status != fiber.StatusUnprocessableEntity {
		t.Fatalf("bad filter: %d", bad.status)
	}
}
