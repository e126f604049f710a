// Package store keeps the state of a cjob production server in etcd: the
// pushed versions of the jobs file, an audit log of operator events and the
// desired state of every job.
//
// # Connecting
//
// [Open] connects to an existing etcd cluster (Options.Endpoints) or, when no
// endpoints are given, starts an embedded single-member etcd in
// Options.DataDir/etcd and connects to it over loopback. Both cases use the
// same clientv3 code path, so an embedded member behaves exactly like a real
// cluster. The embedded member's client and peer URLs are remembered in
// DataDir/etcd-urls.json, so reopening the same data dir brings back the same
// member (etcd stores its advertised peer URL in its data) with all its data.
//
// # Key layout
//
// All keys live under Options.Prefix (default "/cjob/"):
//
//	head                          decimal number of the newest version
//	versions/000000000001/meta    JSON Version without File
//	versions/000000000001/file    the rendered jobs file, raw
//	events/<unix-nanos>-<rand>    JSON Event
//	jobs/<service.job>            JSON JobState
//
// Versions are numbered 1, 2, 3, … without gaps. Each version is stored under
// its own explicit keys and is never modified after it is written; the
// history is deliberately not kept in etcd's MVCC revisions, because
// compaction (automatic or by an operator) discards old revisions while the
// version history must survive for diff and rollback. Metadata and file are
// split into two keys so that listing versions reads only the small metadata.
//
// A push writes the version's meta key, its file key and the new head in one
// transaction guarded by the head key's mod revision as read before the push
// (compare-and-swap), so concurrent pushes never lose or half-write a version:
// exactly one of several pushes based on the same head wins and the others get
// a [*ConflictError].
//
// Event IDs start with the zero-padded event time in unix nanoseconds, so the
// lexical key order is the time order and the newest events are read with a
// descending range.
package store
