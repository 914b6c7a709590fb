package handlers

import (
	"strconv"

	"github.com/gofiber/fiber/v2"
	"golang.org/x/crypto/bcrypt"

	"calipso/tracking"
	"calipso/views"
)

// userNotes are the confirmations a redirect back to the user list may show; the query names
// one, so that nothing the URL carries is ever shown as text.
var userNotes = map[string]string{
	"created":  "User added.",
	"password": "Password set. That user's sessions have been logged out.",
	"disabled": "User disabled and logged out everywhere.",
	"enabled":  "User enabled.",
}

// UserList shows every user, with forms to add one, set a password, and disable or enable.
func UserList(site Site, users Users) fiber.Handler {
	return func(c *fiber.Ctx) error {
		return renderUsers(c, site, users, fiber.StatusOK, views.UserAdmin{Note: userNotes[c.Query("done")]})
	}
}

// AddUser creates a user with a role and a first password.
func AddUser(site Site, users Users) fiber.Handler {
	return func(c *fiber.Ctx) error {
		form := views.NewUserForm{Username: c.FormValue("username"), Role: c.FormValue("role")}
		errs := tracking.FieldErrors{}
		if err := tracking.CheckUsername(form.Username); err != nil {
			errs.Add("username", tracking.ErrorFields(err)["username"])
		}
		role, err := tracking.ParseRole(form.Role)
		if err != nil {
			errs.Add("role", tracking.ErrorFields(err)["role"])
		}
		password := c.FormValue("password")
		if err := tracking.CheckPassword(password); err != nil {
			errs.Add("password", tracking.ErrorFields(err)["password"])
		}
		if len(errs) == 0 {
			hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
			if err != nil {
				return err
			}
			_, err = users.CreateUser(c.UserContext(), form.Username, role, hash)
			switch tracking.ErrorCode(err) {
			case "":
				return c.Redirect("/admin/users?done=created", fiber.StatusSeeOther)
			case tracking.ECONFLICT:
				errs.Add("username", "This username is taken.")
			default:
				return err
			}
		}
		return renderUsers(c, site, users, fiber.StatusUnprocessableEntity, views.UserAdmin{New: form, Errors: errs})
	}
}

// SetUserPassword sets another user's password, which logs that user out everywhere. Admins
// change their own on the account page, which asks for the current one.
func SetUserPassword(site Site, users Users) fiber.Handler {
	return func(c *fiber.Ctx) error {
		target, err := userParam(c, users)
		if err != nil {
			return err
		}
		password := c.FormValue("password")
		var problem string
		switch err := tracking.CheckPassword(password); {
		case target.ID == CurrentUser(c).ID:
			problem = "Change your own password on your account page."
		case err != nil:
			problem = "Password for " + target.Username + ": " + tracking.ErrorFields(err)["password"]
		}
		if problem != "" {
			return renderUsers(c, site, users, fiber.StatusUnprocessableEntity, views.UserAdmin{Error: problem})
		}
		hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
		if err != nil {
			return err
		}
		if err := users.SetPassword(c.UserContext(), target.ID, hash); err != nil {
			return err
		}
		return c.Redirect("/admin/users?done=password", fiber.StatusSeeOther)
	}
}

// SetUserDisabled disables a user (whose sessions end at once) or enables one again. Nobody
// disables themselves: the last admin could lock everyone out.
func SetUserDisabled(site Site, users Users, disabled bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		target, err := userParam(c, users)
		if err != nil {
			return err
		}
		if disabled && target.ID == CurrentUser(c).ID {
			return renderUsers(c, site, users, fiber.StatusUnprocessableEntity,
				views.UserAdmin{Error: "You cannot disable yourself."})
		}
		if err := users.SetDisabled(c.UserContext(), target.ID, disabled); err != nil {
			return err
		}
		done := "enabled"
		if disabled {
			done = "disabled"
		}
		return c.Redirect("/admin/users?done="+done, fiber.StatusSeeOther)
	}
}

// userParam loads the user named by the :uid parameter; a malformed id is 404.
func userParam(c *fiber.Ctx, users Users) (tracking.User, error) {
	id, err := strconv.ParseInt(c.Params("uid"), 10, 64)
	if err != nil || id <= 0 {
		return tracking.User{}, tracking.Errorf(tracking.ENOTFOUND, "No such user.")
	}
	return users.UserByID(c.UserContext(), id)
}

func renderUsers(c *fiber.Ctx, site Site, users Users, status int, props views.UserAdmin) error {
	all, err := users.Users(c.UserContext())
	if err != nil {
		return err
	}
	props.Page = page(c, site, "Users", "admin")
	props.Users = all
	if props.New.Role == "" {
		props.New.Role = string(tracking.RoleDispatcher)
	}
	return Render(c, status, views.UserAdminPage(props))
}
