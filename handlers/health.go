package handlers

import (
	"context"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
)

// Check is one readiness condition: the database, the broker, …
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
}

// Healthz answers 200 while the process runs: liveness says nothing about dependencies, so an
// orchestrator never restarts the app because the broker is down.
func Healthz() fiber.Handler {
	return func(c *fiber.Ctx) error { return c.SendString("ok") }
}

// Readyz answers 503 with a short reason per failing dependency, and 200 when all are up.
func Readyz(checks ...Check) fiber.Handler {
	return func(c *fiber.Ctx) error {
		ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
		defer cancel()
		var failed []string
		for _, ch := range checks {
			if err := ch.Fn(ctx); err != nil {
				failed = append(failed, ch.Name+": "+err.Error())
			}
		}
		if len(failed) > 0 {
			return c.Status(fiber.StatusServiceUnavailable).SendString("not ready\n" + strings.Join(failed, "\n") + "\n")
		}
		return c.SendString("ready")
	}
}
