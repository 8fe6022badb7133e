// Package web owns the status pages: the public page at GET / that shows
// an IdP admin the SP's entity id, endpoints and certificates (with
// fingerprints and downloads), and the operator page at GET /admin behind
// an admin-token sign-in (rotation, mTLS checks, component health, expiry,
// audit log, deprecated algorithms). Templates and CSS are embedded; no
// asset comes from elsewhere and the pages work without JavaScript.
//
// web renders only what it is given: the daemon fills the Public and Admin
// view models (plain values, also the JSON of /api/v1/status) from one
// snapshot, renders each once (RenderPublic, RenderAdmin, kept by a Cache
// until the snapshot changes) and serves the bytes with a strong ETag
// under a hash-based Content-Security-Policy.
package web
