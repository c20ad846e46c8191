// Package dataplane moves dataset bytes between connectors: the provider's pull
// handler (GET /data/{transfer}[/path]), the provider's push client, and the
// consumer's push receiver.
//
// Every request is authorised by an access token and its proof of possession
// (TokenVerifier), re-checked against the agreement's live constraints — time
// window, use count, revocation — on every request (LiveCheck), and accounted
// for: a refused request is recorded as transfer.denied with its reason, a
// request that delivers a whole dataset as transfer.completed with the bytes
// and the SHA-256 of the content (Recorder).
//
// Bytes are streamed through a small fixed set of pooled buffers, so memory is
// flat whatever the dataset's size: one goroutine reads and hashes a buffer
// while the handler writes the previous one to the network. A local file whose
// exact version (device, inode, size, mtime, ctime) was read in full by an
// earlier send goes zero-copy with sendfile instead, under that read's hash,
// the version re-checked before the last byte (Config.HashEverySend turns
// this off). Single HTTP Range
// requests (206/416) let an interrupted transfer resume; ETag with If-None-Match,
// If-Match and If-Range make resumption safe against a dataset that changed.
// Global and per-transfer concurrency limits answer 503 and 429 with Retry-After
// when full; a client that goes away stops the source read at once.
//
// What a dataset points at is a Source: a local file, a local directory (one
// path per file under /data/{transfer}/...), or an HTTP(S) backend the provider
// proxies with credentials kept server-side. An object store or a database
// query fits the same two methods, Stat and Open.
//
// The data plane declares what it needs of the rest of the connector as small
// interfaces (TokenVerifier, LiveCheck, Recorder, Datasets); the connector
// implements them and mounts Server.Handler in `tdsc serve`.
package dataplane
