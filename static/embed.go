// Package static holds the browser assets that the calipso binary serves
// itself: the built Tailwind stylesheet, vendored htmx and its WebSocket
// extension, and the small board script.
//
// They are embedded rather than read from disk or loaded from a CDN because
// the binary must run alone, and a wall-mounted tracking screen may have no
// internet at all. The Tailwind source (src/) and node_modules are build
// inputs, not assets, so they stay out of the binary.
package static

import "embed"

// FS is rooted at this folder: paths look like "css/app.css" and
// "js/htmx.min.js". Add a folder (fonts, say) to the directive below when
// it holds files to serve.
//
//go:embed css js
var FS embed.FS
