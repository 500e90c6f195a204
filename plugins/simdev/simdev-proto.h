/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * simdev-proto.h: the wire protocol between simdev.so and migbroker-simagent
 * (PROTOCOL.md): message header layout, opcodes, limits, big-endian helpers.
 * It does no I/O and holds no device logic; both ends include it.
 */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define SIMDEV_PROTO_MAGIC        0x53444d31u /* "SDM1" */
#define SIMDEV_PROTO_VERSION      1u
#define SIMDEV_PROTO_HDR_LEN      16u
#define SIMDEV_PROTO_REPLY        0x8000u     /* set in the op of every reply */

/* Limits: a message announcing more is refused and the connection closed. */
#define SIMDEV_IO_MAX             (8u * 1024 * 1024) /* SAVE length, LOAD payload */
#define SIMDEV_PROTO_PAYLOAD_MAX  SIMDEV_IO_MAX
#define SIMDEV_BDF_MAX            64u                /* incl. NUL */
#define SIMDEV_HASH_LEN           32u                /* SHA-256 */
#define SIMDEV_ERROR_MSG_MAX      256u               /* text in an error reply */

/* Default timeouts of the client side (the plugin and the CLI). */
#define SIMDEV_CONNECT_TIMEOUT_MS 5000
#define SIMDEV_IO_TIMEOUT_MS      10000

/* Flags of OPEN. */
#define SIMDEV_OPEN_CONTROL       0x1u

typedef enum SimdevOp {
        SIMDEV_OP_OPEN      = 1, /* be32 version, be32 flags, BDF -> be32 version, be32 page, be64 size, be32 state */
        SIMDEV_OP_GET_STATE = 2, /* -> be32 state */
        SIMDEV_OP_SET_STATE = 3, /* be32 state -> - */
        SIMDEV_OP_PENDING   = 4, /* -> be64 pending bytes */
        SIMDEV_OP_SAVE      = 5, /* be32 len -> len bytes of the state stream */
        SIMDEV_OP_LOAD      = 6, /* stream bytes -> - */
        SIMDEV_OP_HASH      = 7, /* BDF -> 32 bytes SHA-256 of the function's memory */
        SIMDEV_OP_STATUS    = 8, /* BDF -> SimdevStatus (be fields) */
        SIMDEV_OP_LIST      = 9, /* -> BDFs separated by '\n' */
} SimdevOp;

/* Message header, as it travels (all fields big-endian):
 *   be32 magic, be16 op, be16 flags (0), be32 status (int32: 0 or -errno), be32 len */
typedef struct SimdevHeader {
        uint32_t magic;
        uint16_t op;
        uint16_t flags;
        int32_t status;
        uint32_t len;
} SimdevHeader;

/* STATUS reply payload: 12 big-endian u64 fields in this order. */
typedef struct SimdevStatus {
        uint64_t state;           /* v1 bits, 6 = error */
        uint64_t state_size;
        uint64_t page_size;
        uint64_t controlled;      /* 1 when a controller connection holds the function */
        uint64_t dirty_pages;     /* currently marked dirty (tracking active in pre-copy) */
        uint64_t pages_dirtied;   /* total page mutations since start */
        uint64_t save_rounds;     /* rounds started in the current/last save session */
        uint64_t save_bytes;      /* stream bytes produced in the current/last save session */
        uint64_t pending;         /* stream bytes pending now (0 outside SAVING) */
        uint64_t load_bytes;      /* stream bytes consumed in the current/last load session */
        uint64_t load_records;    /* data records applied in the current/last load session */
        uint64_t load_complete;   /* 1 once the end record was applied */
} SimdevStatus;
#define SIMDEV_STATUS_FIELDS 12u
#define SIMDEV_STATUS_LEN    (SIMDEV_STATUS_FIELDS * 8u)

static inline void simdev_put_be16(uint8_t *p, uint16_t v) {
        p[0] = (uint8_t) (v >> 8);
        p[1] = (uint8_t) v;
}
static inline void simdev_put_be32(uint8_t *p, uint32_t v) {
        p[0] = (uint8_t) (v >> 24);
        p[1] = (uint8_t) (v >> 16);
        p[2] = (uint8_t) (v >> 8);
        p[3] = (uint8_t) v;
}
static inline void simdev_put_be64(uint8_t *p, uint64_t v) {
        simdev_put_be32(p, (uint32_t) (v >> 32));
        simdev_put_be32(p + 4, (uint32_t) v);
}
static inline uint16_t simdev_get_be16(const uint8_t *p) {
        return (uint16_t) ((uint16_t) p[0] << 8 | p[1]);
}
static inline uint32_t simdev_get_be32(const uint8_t *p) {
        return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}
static inline uint64_t simdev_get_be64(const uint8_t *p) {
        return (uint64_t) simdev_get_be32(p) << 32 | simdev_get_be32(p + 4);
}

static inline void simdev_header_encode(uint8_t out[SIMDEV_PROTO_HDR_LEN], uint16_t op, int32_t status,
                                        uint32_t len) {
        simdev_put_be32(out, SIMDEV_PROTO_MAGIC);
        simdev_put_be16(out + 4, op);
        simdev_put_be16(out + 6, 0);
        simdev_put_be32(out + 8, (uint32_t) status);
        simdev_put_be32(out + 12, len);
}

/* Decodes and checks a header: -EPROTO on bad magic, nonzero flags, a status
 * that is neither 0 nor a negative errno, or len above SIMDEV_PROTO_PAYLOAD_MAX. */
static inline int simdev_header_decode(const uint8_t in[SIMDEV_PROTO_HDR_LEN], SimdevHeader *h) {
        h->magic = simdev_get_be32(in);
        h->op = simdev_get_be16(in + 4);
        h->flags = simdev_get_be16(in + 6);
        h->status = (int32_t) simdev_get_be32(in + 8);
        h->len = simdev_get_be32(in + 12);
        if (h->magic != SIMDEV_PROTO_MAGIC || h->flags != 0)
                return -EPROTO;
        if (h->status > 0 || h->status < -4095)
                return -EPROTO;
        if (h->len > SIMDEV_PROTO_PAYLOAD_MAX)
                return -EPROTO;
        return 0;
}

static inline void simdev_status_encode(uint8_t out[SIMDEV_STATUS_LEN], const SimdevStatus *s) {
        const uint64_t v[SIMDEV_STATUS_FIELDS] = {
                s->state,       s->state_size,   s->page_size,   s->controlled,
                s->dirty_pages, s->pages_dirtied, s->save_rounds, s->save_bytes,
                s->pending,     s->load_bytes,   s->load_records, s->load_complete,
        };
        for (size_t i = 0; i < SIMDEV_STATUS_FIELDS; i++)
                simdev_put_be64(out + 8 * i, v[i]);
}

static inline void simdev_status_decode(const uint8_t in[SIMDEV_STATUS_LEN], SimdevStatus *s) {
        uint64_t *v[SIMDEV_STATUS_FIELDS] = {
                &s->state,       &s->state_size,    &s->page_size,   &s->controlled,
                &s->dirty_pages, &s->pages_dirtied, &s->save_rounds, &s->save_bytes,
                &s->pending,     &s->load_bytes,    &s->load_records, &s->load_complete,
        };
        for (size_t i = 0; i < SIMDEV_STATUS_FIELDS; i++)
                *v[i] = simdev_get_be64(in + 8 * i);
}

/* Human name of a v1 state value, for logs and the status command. */
static inline const char *simdev_state_name(uint32_t s) {
        switch (s) {
        case 0: return "stop";
        case 1: return "running";
        case 2: return "stop-copy";
        case 3: return "pre-copy";
        case 4: return "resuming";
        case 6: return "error";
        default: return "invalid";
        }
}
