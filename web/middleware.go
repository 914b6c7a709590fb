package web

import (
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/csrf"
	"github.com/gofiber/fiber/v2/middleware/helmet"
	"github.com/gofiber/fiber/v2/middleware/session"
	"github.com/gofiber/fiber/v2/utils"

	"calipso/handlers"
	"calipso/tracking"
	"calipso/views"
)

// contentSecurityPolicy allows scripts and styles only from this origin: htmx is configured
// (views.htmxConfig) to need neither eval nor inline styles.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"

func securityHeaders() fiber.Handler {
	return helmet.New(helmet.Config{
		ContentSecurityPolicy: contentSecurityPolicy,
		XFrameOptions:         "DENY",
		// same-origin, not no-referrer: the CSRF middleware checks the Referer over https.
		ReferrerPolicy:            "same-origin",
		CrossOriginOpenerPolicy:   "same-origin",
		CrossOriginResourcePolicy: "same-origin",
	})
}

// requestLog logs one line per request with its id, after the response is decided.
func requestLog(log *slog.Logger) fiber.Handler {
	return func(c *fiber.Ctx) error {
		start := time.Now()
		err := c.Next()
		if err != nil {
			// Let the error handler set the status before we read it.
			if herr := c.App().ErrorHandler(c, err); herr != nil {
				_ = c.SendStatus(fiber.StatusInternalServerError)
			}
		}
		status := c.Response().StatusCode()
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelError
		}
		log.Log(c.UserContext(), level, "http",
			"method", c.Method(), "path", c.Path(), "status", status,
			"duration_ms", time.Since(start).Milliseconds(), "ip", c.IP(), "request_id", c.Locals("requestid"))
		return nil
	}
}

// csrfProtection checks a token on every state-changing request, from the X-CSRF-Token
// header (htmx) or the _csrf form field (plain forms). Tokens are kept in the session.
//
// A stranger's safe request gets no token, except on the login page, the one form strangers
// see: issuing one stores a session row, and every redirect or 404 would otherwise write one.
func csrfProtection(sessions *session.Store, idle time.Duration, secure bool) fiber.Handler {
	return csrf.New(csrf.Config{
		Next: func(c *fiber.Ctx) bool {
			safe := c.Method() == fiber.MethodGet || c.Method() == fiber.MethodHead || c.Method() == fiber.MethodOptions
			return safe && handlers.CurrentUser(c) == nil && c.Path() != "/login"
		},
		Session:        sessions,
		Expiration:     idle,
		CookieName:     "calipso_csrf",
		CookieSameSite: fiber.CookieSameSiteLaxMode,
		CookieSecure:   secure,
		CookieHTTPOnly: true,
		ContextKey:     handlers.CSRFKey,
		Extractor: func(c *fiber.Ctx) (string, error) {
			if t := c.Get(views.CSRFHeader); t != "" {
				return t, nil
			}
			if t := c.FormValue(views.CSRFField); t != "" {
				return t, nil
			}
			return "", csrf.ErrTokenNotFound
		},
		ErrorHandler: func(c *fiber.Ctx, err error) error {
			return tracking.Errorf(tracking.EFORBIDDEN,
				"This form has expired or did not come from this site. Reload the page and try again.")
		},
	})
}

// errorHandler turns an error into a page (or, for htmx, a fragment) with the right status.
// Only application errors show their message; anything else is logged and shown as a
// generic 500.
func errorHandler(log *slog.Logger, site handlers.Site) fiber.ErrorHandler {
	return func(c *fiber.Ctx, err error) error {
		status, message := classify(err)
		if status >= 500 {
			log.Error("request failed", "method", c.Method(), "path", c.Path(), "err", err, "request_id", c.Locals("requestid"))
		}
		c.Response().ResetBody()
		if strings.HasPrefix(c.Path(), "/api/") || c.Get(fiber.HeaderAccept) == fiber.MIMEApplicationJSON {
			return c.Status(status).JSON(fiber.Map{"error": message, "code": tracking.ErrorCode(err)})
		}
		if handlers.IsHTMX(c) {
			return handlers.Render(c, status, views.ErrorFragment(message))
		}
		p := handlers.PageProps(c, site, utils.StatusMessage(status), "")
		return handlers.Render(c, status, views.ErrorPage(p, status, message))
	}
}

var statusOfCode = map[string]int{
	tracking.EINVALID:      fiber.StatusUnprocessableEntity,
	tracking.ECONFLICT:     fiber.StatusConflict,
	tracking.ENOTFOUND:     fiber.StatusNotFound,
	tracking.EUNAUTHORIZED: fiber.StatusUnauthorized,
	tracking.EFORBIDDEN:    fiber.StatusForbidden,
	tracking.ETOOLARGE:     fiber.StatusRequestEntityTooLarge,
	tracking.EUNAVAILABLE:  fiber.StatusServiceUnavailable,
}

func classify(err error) (int, string) {
	var ferr *fiber.Error
	if errors.As(err, &ferr) {
		return ferr.Code, ferr.Message
	}
	if code := tracking.ErrorCode(err); code != tracking.EINTERNAL {
		if status, ok := statusOfCode[code]; ok {
			return status, tracking.ErrorMessage(err)
		}
	}
	return fiber.StatusInternalServerError, "Something went wrong on our side. It has been logged; please try again."
}
