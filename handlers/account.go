package handlers

import (
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/session"
	"golang.org/x/crypto/bcrypt"

	"calipso/tracking"
	"calipso/views"
)

// PasswordPage shows the form to change one's own password.
func PasswordPage(site Site) fiber.Handler {
	return func(c *fiber.Ctx) error {
		var form views.PasswordForm
		if c.Query("changed") == "1" {
			form.Note = "Your password was changed. Any other sessions of yours have been logged out."
		}
		return renderPasswordPage(c, site, fiber.StatusOK, form)
	}
}

// ChangePassword changes the logged-in user's password once the current one is confirmed. It
// ends every session of the user and keeps this one going under a new id.
func ChangePassword(site Site, users Users, sessions *session.Store, policy SessionPolicy) fiber.Handler {
	return func(c *fiber.Ctx) error {
		u := CurrentUser(c)
		current, next := c.FormValue("current_password"), c.FormValue("new_password")
		errs := tracking.FieldErrors{}
		if bcrypt.CompareHashAndPassword(u.PasswordHash, []byte(current)) != nil {
			errs.Add("current_password", "This is not your current password.")
		}
		if err := tracking.CheckPassword(next); err != nil {
			errs.Add("new_password", tracking.ErrorFields(err)["password"])
		} else if next != c.FormValue("confirm_password") {
			errs.Add("confirm_password", "Does not match the new password.")
		}
		if len(errs) > 0 {
			return renderPasswordPage(c, site, fiber.StatusUnprocessableEntity, views.PasswordForm{Errors: errs})
		}
		hash, err := bcrypt.GenerateFromPassword([]byte(next), bcrypt.DefaultCost)
		if err != nil {
			return err
		}
		if err := users.SetPassword(c.UserContext(), u.ID, hash); err != nil {
			return err
		}
		if err := startSession(c, sessions, policy, *u); err != nil {
			return err
		}
		return c.Redirect("/account/password?changed=1", fiber.StatusSeeOther)
	}
}

// PasswordThrottled answers a password change refused by the rate limit on guessing the
// current password.
func PasswordThrottled(site Site) fiber.Handler {
	return func(c *fiber.Ctx) error {
		return renderPasswordPage(c, site, fiber.StatusTooManyRequests, views.PasswordForm{Error: throttledMessage(c)})
	}
}

func renderPasswordPage(c *fiber.Ctx, site Site, status int, form views.PasswordForm) error {
	form.Page = page(c, site, "Change password", "account")
	return Render(c, status, views.PasswordPage(form))
}
