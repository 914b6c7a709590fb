package views

import (
	"fmt"
	"time"

	"calipso/tracking"
)

// Board texts in each board language. A screen is chosen English or Russian (the original
// users wrote in Russian); dispatcher and admin pages stay English.
var boardTexts = map[tracking.Language]map[string]string{
	tracking.LanguageEnglish: {
		"scheduled":   "Scheduled",
		"expected":    "Expected",
		"departure":   "Departure",
		"destination": "Destination",
		"carrier":     "Carrier",
		"dock":        "Dock",
		"status":      "Status",
		"empty":       "No departures",
		// Filled in by board.js: {n} seconds, {time} HH:MM, {page}/{pages}, {name}.
		"updated":  "updated {n} s ago",
		"stale":    "Connection lost, data from {time} may be out of date",
		"page":     "page {page}/{pages}",
		"revoked":  "This screen's link was revoked. Ask an administrator for a new one.",
		"identify": "Screen",
		"min":      "min",
		"h":        "h",
	},
	tracking.LanguageRussian: {
		"scheduled":   "По плану",
		"expected":    "Ожидается",
		"departure":   "Рейс",
		"destination": "Назначение",
		"carrier":     "Перевозчик",
		"dock":        "Рампа",
		"status":      "Статус",
		"empty":       "Нет отправлений",
		"updated":     "обновлено {n} с назад",
		"stale":       "Нет связи, данные от {time} могут быть устаревшими",
		"page":        "стр. {page}/{pages}",
		"revoked":     "Ссылка этого экрана отозвана. Попросите администратора выдать новую.",
		"identify":    "Экран",
		"min":         "мин",
		"h":           "ч",
	},
}

var statusTexts = map[tracking.Language]map[tracking.Status]string{
	tracking.LanguageRussian: {
		tracking.StatusPending:   "Ожидает",
		tracking.StatusLoading:   "Погрузка",
		tracking.StatusInTransit: "В пути",
		tracking.StatusDelayed:   "Задержка",
		tracking.StatusArrived:   "Прибыл",
		tracking.StatusCancelled: "Отменён",
	},
}

// text is a board text in l, falling back to English.
func text(l tracking.Language, key string) string {
	if s, ok := boardTexts[l][key]; ok {
		return s
	}
	return boardTexts[tracking.LanguageEnglish][key]
}

// statusText is a status as a board in l shows it; English shows the wire name.
func statusText(l tracking.Language, s tracking.Status) string {
	if t, ok := statusTexts[l][s]; ok {
		return t
	}
	return string(s)
}

// delayIn is "+25 min" (or "+1 h 05 min") in l for a late estimate, "" when on time or early.
func delayIn(l tracking.Language, d tracking.Departure) string {
	delay := d.Delay()
	switch {
	case delay < time.Minute:
		return ""
	case delay >= time.Hour:
		return fmt.Sprintf("+%d %s %02d %s", int(delay.Hours()), text(l, "h"), int(delay.Minutes())%60, text(l, "min"))
	}
	return fmt.Sprintf("+%d %s", int(delay.Minutes()), text(l, "min"))
}
