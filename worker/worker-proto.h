/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * worker-proto.h: the private D-Bus interface between migbrokerd (client) and
 * one migbroker-worker (server) over a peer-to-peer socketpair: names, flags
 * and argument layouts. Shared by both sides; not a public API.
 */
#pragma once

#define MB_WORKER_PATH       "/org/migbroker1/worker"
#define MB_WORKER_INTERFACE  "org.migbroker1.Worker"

/* Fixed fd numbers the broker hands the worker. */
#define MB_WORKER_SOCKET_FD  3
#define MB_WORKER_PLUGIN_FD  4

/*
 * Methods (all errors are org.migbroker1.Error.* names, see common/error.h;
 * a plugin op that fails is PluginFailed with the plugin's errno in the text):
 *
 *   Hello() -> (s name, s version, u caps, a(qq) pci_ids, b has_probe, s stream_name)
 *      The plugin as loaded at start-up, or the loader's refusal.
 *   Probe(s bdf, q vendor, q device) -> (b accepted)
 *   Init(s bdf, s arg)
 *   Cleanup()
 *   SetState(u v1_state)
 *   GetState() -> (u v1_state)
 *   UpdatePending() -> (t pending_bytes)
 *   Save(h fd, s format, t max_bytes, u flags, u stall_ms) -> (t bytes, t records, t pending_after, b ended)
 *      Writes state to fd. flags: MB_WORKER_SAVE_*. bytes counts what went to fd.
 *   Load(h fd, s format, u flags, u stall_ms) -> (t bytes, t records, b ended)
 *      Reads fd until EOF, feeding the plugin. flags: MB_WORKER_LOAD_*.
 *   LoadFinish() -> (t bytes, t records)
 *      StreamCorrupt unless the session's stream is complete.
 *   CallOp(s op, t value, b null_handle) -> ()
 *      For conformance checks (migbrokerctl plugin check) only: one plugin op
 *      called directly, without the guards above: op "save" calls save(value
 *      bytes, at most MB_WORKER_CHUNK; the bytes are discarded) whatever is
 *      pending, op "set_state" calls set_state(value). With null_handle the
 *      plugin gets NULL instead of its handle (Init need not have run).
 *      Disturbs a save session in progress; the broker never calls it.
 *
 * Signal Progress(t bytes): emitted during Save/Load at least every
 * MB_FD_HEARTBEAT_MS while the worker is alive and making progress or waiting
 * on the peer fd; the broker uses it to reset its stall timer.
 */
#define MB_WORKER_SAVE_BEGIN        (1u << 0) /* a new save session: reset counters, write the header */
#define MB_WORKER_SAVE_UNTIL_EMPTY  (1u << 1) /* stop-copy: rounds until pending is 0 */
#define MB_WORKER_SAVE_END          (1u << 2) /* then write the end record */
#define MB_WORKER_SAVE_ZERO_COPY    (1u << 3) /* vmsplice records into a pipe (SaveTo's zero-copy) */

#define MB_WORKER_LOAD_BEGIN        (1u << 0) /* a new load session: new reader */

/* Chunk size of one plugin save()/load() call: QEMU's CHUNK_SIZE. */
#define MB_WORKER_CHUNK             (1024u * 1024)

/* A framed record's payload: its 16-byte header and the payload fill
 * MB_WORKER_CHUNK exactly, so each record is one page-aligned write the size
 * of a full pipe (1 MiB records plus headers ran a pipe at 0.7x). */
#define MB_WORKER_FRAMED_CHUNK      (MB_WORKER_CHUNK - 16u)

/* Plausibility bound on what update_pending() may report. */
#define MB_WORKER_PENDING_MAX       (UINT64_C(1) << 40)
