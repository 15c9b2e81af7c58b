// Batched UDP I/O for Node (issue 3, performance): one recvmmsg per batch of up to N
// datagrams and one sendmmsg per batch of replies, with ONE JS callback per batch and no
// per-datagram JS objects. Node's dgram costs a recvmsg, a sendmsg, a callback, a Buffer,
// an rinfo object and (for string addresses) a dns.lookup + nextTick per packet.
//
// Memory shared with JS (ArrayBuffers created here, kept alive by references):
//   rx      batch * slot bytes; datagram i is at offset i * slot
//   rxMeta  batch * 32 bytes, one record per datagram (layout below)
//   tx      txBytes bytes; replies packed by JS at the offsets it chooses
//   txMeta  txSlots * 32 bytes, same record layout, destination of each reply
// Record (native endianness; JS reads it with Uint32Array/Uint16Array views):
//   u32 [0]  length stored (rx: <= slot) / length to send (tx)
//   u16 [4]  port          u8 [6] family (4 or 6)     u8 [7] flags (rx: 1 = truncated)
//   u8  [8..24] address, network order (IPv4 in the first 4 bytes)
//   u32 [24] IPv6 scope id u32 [28] rx: length on the wire; tx: offset in tx
//
// Sends never drop silently: what the kernel will not take now (EAGAIN) is copied to a
// pending queue, reading pauses, and the queue drains when the socket is writable. Only
// a queue over maxPendingBytes, or a per-message kernel error, drops, and both are counted.
//
// Read delay: the first datagram of each batch read carries the kernel's receive time
// (SO_TIMESTAMPNS); now minus that time is how long the oldest one waited in the socket for
// this thread (busy, or not given a CPU): the part of a query's latency spent queued before
// the server looked at it. Counted per batch in power-of-two microseconds (WAIT_BINS), read
// by stats(). Asked for with the option readDelay (the listeners; the forwarder's upstream
// sockets do without). Only the first: a receive time for every datagram (one cmsg each) cost 5.8%
// more CPU per query on the block path (0.4 us, 18 alternating runs), the first alone none
// measurable.
#ifndef NAPI_VERSION
#define NAPI_VERSION 8
#endif
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#define REC 32
#define WAIT_BINS 24 /* bin k: waited < 2^k us (k = 0..22), the last: longer */
#define CTL_SPACE CMSG_SPACE(sizeof(struct timespec))
#define READ_ROUNDS 8 /* default: batches per readiness event before yielding to the loop */

typedef struct {
  uint8_t *buf;
  uint32_t len;
  socklen_t alen;
  struct sockaddr_storage addr;
} pending_t;

typedef struct {
  napi_env env;
  uv_poll_t poll;
  int fd;
  int family;
  uint32_t batch, slot, txSlots, txBytes;
  uint8_t *rx, *rxMeta, *tx, *txMeta;
  napi_ref rxRef, rxMetaRef, txRef, txMetaRef, cbRef;
  napi_async_context actx;
  struct mmsghdr *rmsg, *tmsg;
  struct iovec *riov, *tiov;
  struct sockaddr_storage *raddr, *taddr;
  pending_t *pend;
  size_t pendHead, pendCount, pendCap, pendBytes, maxPendingBytes;
  int events;
  int closing;
  int closed;        /* uv handle closed, buffers freed */
  int finalized;     /* the JS handle (external) was garbage-collected */
  napi_async_cleanup_hook_handle hook;      /* registered while open */
  napi_async_cleanup_hook_handle hookDone;  /* set when teardown closed us */
  uint32_t injectEagain, flushes; /* tests: every Nth flush acts as if the kernel said EAGAIN */
  double received, truncated, sent, queued, dropped, sendErrors, recvErrors;
  int lastErrno;
  uint32_t readRounds; /* batches read per readiness event before the loop runs other sockets */
  int connected;     /* connect()ed to one peer: sends carry no address (the kernel keeps the route) */
  int stamps;        /* SO_TIMESTAMPNS is on: rctl gets the receive time of each batch's first datagram */
  union {
    struct cmsghdr align;
    uint8_t buf[CTL_SPACE];
  } rctl;
  double waitBins[WAIT_BINS], waitSum; /* read delay histogram (one count per batch read); the sum in seconds */
} sock_t;

#define CHECK(call)                                                     \
  do {                                                                  \
    if ((call) != napi_ok) {                                            \
      const napi_extended_error_info *ei = NULL;                        \
      napi_get_last_error_info(env, &ei);                               \
      bool pending = false;                                             \
      napi_is_exception_pending(env, &pending);                         \
      if (!pending)                                                     \
        napi_throw_error(env, "EUDPBATCH",                              \
                         ei && ei->error_message ? ei->error_message    \
                                                 : #call " failed");    \
      return NULL;                                                      \
    }                                                                   \
  } while (0)

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_throw_error(env, "EUDPBATCH", msg);
  return NULL;
}

static void on_poll(uv_poll_t *h, int status, int events);

static void update_events(sock_t *s) {
  if (s->closing) return;
  int want = s->pendCount ? UV_WRITABLE : UV_READABLE; /* pause reading while replies wait */
  if (want != s->events) {
    s->events = want;
    uv_poll_start(&s->poll, want, on_poll);
  }
}

static socklen_t rec_to_addr(const uint8_t *r, struct sockaddr_storage *ss) {
  uint16_t port;
  memcpy(&port, r + 4, 2);
  memset(ss, 0, sizeof(*ss));
  if (r[6] == 6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    memcpy(&a->sin6_addr, r + 8, 16);
    memcpy(&a->sin6_scope_id, r + 24, 4);
    return sizeof(*a);
  }
  struct sockaddr_in *a = (struct sockaddr_in *)ss;
  a->sin_family = AF_INET;
  a->sin_port = htons(port);
  memcpy(&a->sin_addr, r + 8, 4);
  return sizeof(*a);
}

static void addr_to_rec(const struct sockaddr_storage *ss, uint8_t *r) {
  memset(r + 4, 0, 24);
  if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
    uint16_t port = ntohs(a->sin6_port);
    memcpy(r + 4, &port, 2);
    r[6] = 6;
    memcpy(r + 8, &a->sin6_addr, 16);
    memcpy(r + 24, &a->sin6_scope_id, 4);
  } else {
    const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
    uint16_t port = ntohs(a->sin_port);
    memcpy(r + 4, &port, 2);
    r[6] = 4;
    memcpy(r + 8, &a->sin_addr, 4);
  }
}

static void pend_free_all(sock_t *s) {
  for (size_t k = 0; k < s->pendCount; k++) free(s->pend[(s->pendHead + k) % s->pendCap].buf);
  s->dropped += s->pendCount;
  s->pendCount = s->pendHead = s->pendBytes = 0;
}

static int pend_push(sock_t *s, const uint8_t *data, uint32_t len, const struct sockaddr_storage *addr, socklen_t alen) {
  if (s->pendBytes + len > s->maxPendingBytes) {
    s->dropped++;
    return -1;
  }
  if (s->pendCount == s->pendCap) {
    size_t ncap = s->pendCap ? s->pendCap * 2 : 256;
    pending_t *n = malloc(ncap * sizeof(pending_t));
    if (!n) {
      s->dropped++;
      return -1;
    }
    for (size_t k = 0; k < s->pendCount; k++) n[k] = s->pend[(s->pendHead + k) % s->pendCap];
    free(s->pend);
    s->pend = n;
    s->pendCap = ncap;
    s->pendHead = 0;
  }
  uint8_t *copy = malloc(len ? len : 1);
  if (!copy) {
    s->dropped++;
    return -1;
  }
  memcpy(copy, data, len);
  pending_t *p = &s->pend[(s->pendHead + s->pendCount) % s->pendCap];
  p->buf = copy;
  p->len = len;
  p->alen = alen;
  p->addr = *addr;
  s->pendCount++;
  s->pendBytes += len;
  s->queued++;
  return 0;
}

/* Errors that concern one message (drop it, count it, go on) vs. "try later". */
static int is_retry(int err) { return err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS; }

static void drain_pending(sock_t *s) {
  while (s->pendCount && !s->closing) {
    unsigned n = 0;
    while (n < s->txSlots && n < s->pendCount) {
      pending_t *p = &s->pend[(s->pendHead + n) % s->pendCap];
      s->tiov[n].iov_base = p->buf;
      s->tiov[n].iov_len = p->len;
      memset(&s->tmsg[n], 0, sizeof(struct mmsghdr));
      if (!s->connected) {
        s->tmsg[n].msg_hdr.msg_name = &p->addr;
        s->tmsg[n].msg_hdr.msg_namelen = p->alen;
      }
      s->tmsg[n].msg_hdr.msg_iov = &s->tiov[n];
      s->tmsg[n].msg_hdr.msg_iovlen = 1;
      n++;
    }
    int r = sendmmsg(s->fd, s->tmsg, n, MSG_DONTWAIT);
    unsigned done;
    if (r < 0) {
      if (errno == EINTR) continue;
      if (is_retry(errno)) return; /* stay writable-polled */
      s->sendErrors++;
      s->lastErrno = errno;
      done = 1; /* the first message failed: drop it alone */
    } else if (r == 0) {
      return; /* nothing taken: wait for writability rather than spin */
    } else {
      done = (unsigned)r;
      s->sent += r;
    }
    for (unsigned k = 0; k < done; k++) {
      pending_t *p = &s->pend[s->pendHead];
      s->pendBytes -= p->len;
      free(p->buf);
      s->pendHead = (s->pendHead + 1) % s->pendCap;
      s->pendCount--;
    }
  }
}

/* Sends tx records [0, count). Returns how many the kernel took now; the rest is queued. */
static uint32_t flush_tx(sock_t *s, uint32_t count) {
  if (count > s->txSlots) count = s->txSlots;
  uint32_t taken = 0, i = 0;
  int injected = s->injectEagain && ++s->flushes % s->injectEagain == 0;
  if (!s->pendCount && !injected) {
    while (i < count) {
      unsigned n = 0;
      for (uint32_t j = i; j < count; j++, n++) {
        const uint8_t *r = s->txMeta + (size_t)j * REC;
        uint32_t len, off;
        memcpy(&len, r, 4);
        memcpy(&off, r + 28, 4);
        if ((uint64_t)off + len > s->txBytes) len = 0, off = 0; /* JS bug: never read out of bounds */
        memset(&s->tmsg[n], 0, sizeof(struct mmsghdr));
        if (!s->connected) {
          s->tmsg[n].msg_hdr.msg_namelen = rec_to_addr(r, &s->taddr[n]);
          s->tmsg[n].msg_hdr.msg_name = &s->taddr[n];
        }
        s->tiov[n].iov_base = s->tx + off;
        s->tiov[n].iov_len = len;
        s->tmsg[n].msg_hdr.msg_iov = &s->tiov[n];
        s->tmsg[n].msg_hdr.msg_iovlen = 1;
      }
      int r = sendmmsg(s->fd, s->tmsg, n, MSG_DONTWAIT);
      if (r < 0) {
        if (errno == EINTR) continue;
        if (is_retry(errno)) break;
        s->sendErrors++;
        s->lastErrno = errno;
        i++;
        continue;
      }
      if (r == 0) break; /* nothing taken: the rest waits for writability */
      s->sent += r;
      taken += r;
      i += r;
    }
  }
  /* Whatever is left waits for writability, in order, after anything already waiting. */
  for (; i < count; i++) {
    const uint8_t *r = s->txMeta + (size_t)i * REC;
    uint32_t len, off;
    memcpy(&len, r, 4);
    memcpy(&off, r + 28, 4);
    if ((uint64_t)off + len > s->txBytes) continue;
    struct sockaddr_storage ss;
    socklen_t alen = rec_to_addr(r, &ss);
    pend_push(s, s->tx + off, len, &ss, alen);
  }
  if (s->pendCount && !injected) drain_pending(s);
  update_events(s);
  return taken;
}

static uint32_t call_js(sock_t *s, uint32_t count) {
  napi_env env = s->env;
  napi_handle_scope scope;
  uint32_t out = 0;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return 0;
  napi_value cb, recv, argv[1], result;
  napi_get_reference_value(env, s->cbRef, &cb);
  napi_get_global(env, &recv); /* make_callback needs an object receiver */
  napi_create_uint32(env, count, &argv[0]);
  napi_status st = napi_make_callback(env, s->actx, recv, cb, 1, argv, &result);
  if (st == napi_ok) {
    if (napi_get_value_uint32(env, result, &out) != napi_ok) out = 0;
  } else {
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) {
      napi_value err;
      napi_get_and_clear_last_exception(env, &err);
      napi_fatal_exception(env, err); /* like a throwing 'message' handler: uncaughtException */
    }
  }
  napi_close_handle_scope(env, scope);
  return out;
}

/* How long the batch's first (oldest) datagram waited in the socket: now minus its kernel receive time. */
static void count_read_delay(sock_t *s) {
  struct msghdr *m = &s->rmsg[0].msg_hdr;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_TIMESTAMPNS) continue;
    struct timespec at, now;
    memcpy(&at, CMSG_DATA(c), sizeof at);
    clock_gettime(CLOCK_REALTIME, &now); /* the clock SO_TIMESTAMPNS stamps with */
    int64_t ns = (int64_t)(now.tv_sec - at.tv_sec) * 1000000000 + (now.tv_nsec - at.tv_nsec);
    if (ns < 0) ns = 0; /* the wall clock stepped back */
    uint64_t us = (uint64_t)ns / 1000;
    unsigned k = 0;
    while (k < WAIT_BINS - 1 && us >= (1ull << k)) k++;
    s->waitBins[k]++;
    s->waitSum += (double)ns / 1e9;
    return;
  }
}

static void read_batches(sock_t *s) {
  for (uint32_t round = 0; round < s->readRounds && !s->closing && !s->pendCount; round++) {
    for (uint32_t i = 0; i < s->batch; i++) {
      s->rmsg[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_storage);
      s->rmsg[i].msg_hdr.msg_flags = 0;
      s->rmsg[i].msg_len = 0;
    }
    if (s->stamps) s->rmsg[0].msg_hdr.msg_controllen = sizeof s->rctl.buf;
    /* MSG_TRUNC: msg_len is the datagram's real length, so oversize ones are recognised. */
    int n = recvmmsg(s->fd, s->rmsg, s->batch, MSG_DONTWAIT | MSG_TRUNC, NULL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        s->recvErrors++;
        s->lastErrno = errno;
      }
      return;
    }
    if (n == 0) return;
    if (s->stamps) count_read_delay(s);
    for (int i = 0; i < n; i++) {
      uint8_t *r = s->rxMeta + (size_t)i * REC;
      uint32_t wire = s->rmsg[i].msg_len;
      uint32_t stored = wire > s->slot ? s->slot : wire;
      memcpy(r, &stored, 4);
      addr_to_rec(&s->raddr[i], r);
      r[7] = (s->rmsg[i].msg_hdr.msg_flags & MSG_TRUNC) || wire > s->slot ? 1 : 0;
      if (r[7]) s->truncated++;
      memcpy(r + 28, &wire, 4);
    }
    s->received += n;
    uint32_t replies = call_js(s, (uint32_t)n);
    if (s->closing) return;
    if (replies) flush_tx(s, replies);
    if ((uint32_t)n < s->batch) return;
  }
}

static void on_poll(uv_poll_t *h, int status, int events) {
  sock_t *s = h->data;
  if (s->closing) return;
  if (status < 0) {
    /* libuv stops the handle on POLLERR (status EBADF). On a connected socket that is an
       ICMP error (e.g. port unreachable while the upstream restarts): take the socket's
       pending error (which clears it), count it, and keep watching. */
    int err = 0;
    socklen_t el = sizeof err;
    getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &el);
    s->recvErrors++;
    s->lastErrno = err ? err : -status;
    s->events = s->pendCount ? UV_WRITABLE : UV_READABLE;
    uv_poll_start(&s->poll, s->events, on_poll);
    return;
  }
  if (events & UV_WRITABLE) drain_pending(s);
  if ((events & UV_READABLE) || !s->pendCount) read_batches(s);
  update_events(s);
}

static void free_sock(sock_t *s, int deleteRefs) {
  if (deleteRefs) {
    napi_env env = s->env;
    napi_ref refs[] = {s->rxRef, s->rxMetaRef, s->txRef, s->txMetaRef, s->cbRef};
    for (unsigned k = 0; k < sizeof refs / sizeof refs[0]; k++)
      if (refs[k]) napi_delete_reference(env, refs[k]);
    if (s->actx) napi_async_destroy(env, s->actx);
  }
  free(s->rmsg);
  free(s->tmsg);
  free(s->riov);
  free(s->tiov);
  free(s->raddr);
  free(s->taddr);
  free(s->pend);
  s->rmsg = s->tmsg = NULL;
  s->riov = s->tiov = NULL;
  s->raddr = s->taddr = NULL;
  s->pend = NULL;
}

/* The struct outlives both the uv handle and the JS handle, so a late flush() or stats()
   on a closed socket is answered, not a use-after-free. */
static void maybe_free(sock_t *s) {
  if (s->closed && s->finalized) free(s);
}

static void on_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  sock_t *s = data;
  s->finalized = 1;
  maybe_free(s);
}

static void on_closed(uv_handle_t *h) {
  sock_t *s = h->data;
  napi_async_cleanup_hook_handle done = s->hookDone;
  free_sock(s, done == NULL);
  s->closed = 1;
  maybe_free(s);
  if (done) napi_remove_async_cleanup_hook(done);
}

static void begin_close(sock_t *s) {
  if (s->closing) return;
  /* One last try to hand waiting replies to the kernel; what it refuses is counted. */
  if (s->pendCount) drain_pending(s);
  s->closing = 1;
  pend_free_all(s);
  uv_poll_stop(&s->poll);
  close(s->fd);
  s->fd = -1;
  uv_close((uv_handle_t *)&s->poll, on_closed);
}

/* Environment teardown (worker thread exit) with the socket still open. */
static void on_env_teardown(napi_async_cleanup_hook_handle handle, void *arg) {
  sock_t *s = arg;
  s->hook = NULL;
  s->hookDone = handle;
  begin_close(s);
}

static sock_t *get_sock(napi_env env, napi_value v) {
  sock_t *s = NULL;
  if (napi_get_value_external(env, v, (void **)&s) != napi_ok || !s) {
    napi_throw_type_error(env, "EUDPBATCH", "not a udp-batch socket handle");
    return NULL;
  }
  return s;
}

static uint32_t opt_u32(napi_env env, napi_value obj, const char *key, uint32_t def) {
  bool has = false;
  napi_value v;
  uint32_t out = def;
  if (napi_has_named_property(env, obj, key, &has) == napi_ok && has &&
      napi_get_named_property(env, obj, key, &v) == napi_ok) {
    napi_valuetype t;
    napi_typeof(env, v, &t);
    if (t == napi_number) napi_get_value_uint32(env, v, &out);
    else if (t == napi_boolean) {
      bool b;
      napi_get_value_bool(env, v, &b);
      out = b;
    }
  }
  return out;
}

/* An address literal (IPv4 or IPv6; only `family` when not 0) and port into ss; its length, 0 if not one. */
static socklen_t parse_addr(const char *host, uint32_t port, int family, struct sockaddr_storage *ss) {
  memset(ss, 0, sizeof *ss);
  struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
  if (family != AF_INET6 && inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    return sizeof *a4;
  }
  if (family != AF_INET && inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons((uint16_t)port);
    return sizeof *a6;
  }
  return 0;
}

static napi_value make_ab(napi_env env, size_t len, uint8_t **data, napi_ref *ref) {
  napi_value ab;
  void *p;
  CHECK(napi_create_arraybuffer(env, len, &p, &ab));
  memset(p, 0, len);
  *data = p;
  CHECK(napi_create_reference(env, ab, 1, ref));
  return ab;
}

// open(host, port, { reusePort, batch, slot, txSlots, txBytes, rcvbuf, sndbuf, maxPendingBytes, readRounds, readDelay }, onBatch)
//   -> { handle, port, rx, rxMeta, tx, txMeta }
static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 4) {
    napi_throw_type_error(env, "EUDPBATCH", "open(host, port, options, onBatch)");
    return NULL;
  }
  char host[64];
  size_t hl = 0;
  CHECK(napi_get_value_string_utf8(env, argv[0], host, sizeof host, &hl));
  uint32_t port;
  CHECK(napi_get_value_uint32(env, argv[1], &port));
  napi_valuetype cbt;
  napi_typeof(env, argv[3], &cbt);
  if (cbt != napi_function || port > 65535) {
    napi_throw_type_error(env, "EUDPBATCH", "open(host, port 0-65535, options, onBatch function)");
    return NULL;
  }
  uint32_t reuse = opt_u32(env, argv[2], "reusePort", 0);
  uint32_t batch = opt_u32(env, argv[2], "batch", 64);
  uint32_t slot = opt_u32(env, argv[2], "slot", 4096);
  uint32_t txSlots = opt_u32(env, argv[2], "txSlots", batch * 2);
  uint32_t txBytes = opt_u32(env, argv[2], "txBytes", batch * 2 * 4096);
  uint32_t rcvbuf = opt_u32(env, argv[2], "rcvbuf", 0);
  uint32_t sndbuf = opt_u32(env, argv[2], "sndbuf", 0);
  uint32_t maxPend = opt_u32(env, argv[2], "maxPendingBytes", 16u << 20);
  uint32_t injectEagain = opt_u32(env, argv[2], "injectEagainEvery", 0);
  uint32_t readRounds = opt_u32(env, argv[2], "readRounds", READ_ROUNDS);
  uint32_t readDelay = opt_u32(env, argv[2], "readDelay", 0);
  if (readRounds < 1 || readRounds > 64 || batch < 1 || batch > 1024 || slot < 512 || slot > 65536 || txSlots < 1 || txSlots > 4096 || txBytes < 512) {
    napi_throw_range_error(env, "EUDPBATCH", "readRounds 1-64, batch 1-1024, slot 512-65536, txSlots 1-4096, txBytes >= 512");
    return NULL;
  }

  struct sockaddr_storage ss;
  socklen_t alen = parse_addr(host, port, 0, &ss);
  if (!alen) {
    napi_throw_type_error(env, "EUDPBATCH", "host must be an IPv4 or IPv6 address literal");
    return NULL;
  }
  int family = ss.ss_family;
  struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
  int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  int one = 1;
  if (reuse && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, "SO_REUSEPORT", e);
  }
  if (family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one); /* as dgram ipv6Only */
  if (rcvbuf) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  if (sndbuf) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  if (bind(fd, (struct sockaddr *)&ss, alen) < 0) {
    int e = errno;
    close(fd);
    char what[128];
    snprintf(what, sizeof what, "bind %s port %u", host, port);
    return throw_errno(env, what, e);
  }
  socklen_t gl = sizeof ss;
  getsockname(fd, (struct sockaddr *)&ss, &gl);
  uint32_t bound = ntohs(family == AF_INET ? a4->sin_port : a6->sin6_port);

  sock_t *s = calloc(1, sizeof *s);
  if (!s) {
    close(fd);
    return throw_errno(env, "calloc", ENOMEM);
  }
  s->env = env;
  s->fd = fd;
  s->family = family;
  s->batch = batch;
  s->slot = slot;
  s->txSlots = txSlots;
  s->txBytes = txBytes;
  s->maxPendingBytes = maxPend;
  s->injectEagain = injectEagain;
  s->readRounds = readRounds;
  s->rmsg = calloc(batch, sizeof(struct mmsghdr));
  s->riov = calloc(batch, sizeof(struct iovec));
  s->raddr = calloc(batch, sizeof(struct sockaddr_storage));
  s->tmsg = calloc(txSlots, sizeof(struct mmsghdr));
  s->tiov = calloc(txSlots, sizeof(struct iovec));
  s->taddr = calloc(txSlots, sizeof(struct sockaddr_storage));
  if (!s->rmsg || !s->riov || !s->raddr || !s->tmsg || !s->tiov || !s->taddr) {
    close(fd);
    free_sock(s, 0);
    free(s);
    return throw_errno(env, "calloc", ENOMEM);
  }
  napi_value out, handle, v;
  CHECK(napi_create_object(env, &out));
  napi_value rx = make_ab(env, (size_t)batch * slot, &s->rx, &s->rxRef);
  napi_value rxMeta = make_ab(env, (size_t)batch * REC, &s->rxMeta, &s->rxMetaRef);
  napi_value tx = make_ab(env, txBytes, &s->tx, &s->txRef);
  napi_value txMeta = make_ab(env, (size_t)txSlots * REC, &s->txMeta, &s->txMetaRef);
  if (!rx || !rxMeta || !tx || !txMeta) {
    close(fd);
    free_sock(s, 1);
    free(s);
    return NULL;
  }
  /* Receive times (best effort: without them there is no read-delay histogram, nothing else changes). */
  if (readDelay && setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one) == 0) {
    s->stamps = 1;
    s->rmsg[0].msg_hdr.msg_control = s->rctl.buf;
  }
  for (uint32_t i = 0; i < batch; i++) {
    s->riov[i].iov_base = s->rx + (size_t)i * slot;
    s->riov[i].iov_len = slot;
    s->rmsg[i].msg_hdr.msg_name = &s->raddr[i];
    s->rmsg[i].msg_hdr.msg_iov = &s->riov[i];
    s->rmsg[i].msg_hdr.msg_iovlen = 1;
  }
  CHECK(napi_create_reference(env, argv[3], 1, &s->cbRef));
  napi_value resname;
  CHECK(napi_create_string_utf8(env, "UDPBATCH", NAPI_AUTO_LENGTH, &resname));
  CHECK(napi_async_init(env, NULL, resname, &s->actx));

  uv_loop_t *loop;
  CHECK(napi_get_uv_event_loop(env, &loop));
  int ue = uv_poll_init(loop, &s->poll, fd);
  if (ue < 0) {
    close(fd);
    free_sock(s, 1);
    free(s);
    return throw_errno(env, "uv_poll_init", -ue);
  }
  s->poll.data = s;
  s->events = UV_READABLE;
  uv_poll_start(&s->poll, UV_READABLE, on_poll);
  CHECK(napi_add_async_cleanup_hook(env, on_env_teardown, s, &s->hook));

  CHECK(napi_create_external(env, s, on_finalize, NULL, &handle));
  CHECK(napi_set_named_property(env, out, "handle", handle));
  CHECK(napi_create_uint32(env, bound, &v));
  CHECK(napi_set_named_property(env, out, "port", v));
  CHECK(napi_set_named_property(env, out, "rx", rx));
  CHECK(napi_set_named_property(env, out, "rxMeta", rxMeta));
  CHECK(napi_set_named_property(env, out, "tx", tx));
  CHECK(napi_set_named_property(env, out, "txMeta", txMeta));
  return out;
}

// flush(handle, count) -> messages the kernel took now (the rest is queued, never dropped silently)
static napi_value js_flush(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], out;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  sock_t *s = get_sock(env, argv[0]);
  if (!s) return NULL;
  uint32_t count;
  CHECK(napi_get_value_uint32(env, argv[1], &count));
  uint32_t taken = s->closing ? 0 : flush_tx(s, count);
  CHECK(napi_create_uint32(env, taken, &out));
  return out;
}

// connect(handle, host, port): only this peer's datagrams are read from now on, and sends
// go to it without an address each (a UDP socket connected to its one upstream: the
// kernel keeps the route instead of looking it up per datagram). The records' addresses
// are ignored when sending.
static napi_value js_connect(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  sock_t *s = get_sock(env, argv[0]);
  if (!s) return NULL;
  char host[64];
  size_t hl = 0;
  CHECK(napi_get_value_string_utf8(env, argv[1], host, sizeof host, &hl));
  uint32_t port;
  CHECK(napi_get_value_uint32(env, argv[2], &port));
  struct sockaddr_storage ss;
  socklen_t alen = port <= 65535 ? parse_addr(host, port, s->family, &ss) : 0;
  if (!alen) {
    napi_throw_type_error(env, "EUDPBATCH", "connect: an address literal of the socket's family and a port 0-65535");
    return NULL;
  }
  if (s->closing) return NULL;
  if (connect(s->fd, (struct sockaddr *)&ss, alen) < 0) {
    char what[128];
    snprintf(what, sizeof what, "connect %s port %u", host, port);
    return throw_errno(env, what, errno);
  }
  s->connected = 1;
  return NULL;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  sock_t *s = get_sock(env, argv[0]);
  if (!s) return NULL;
  if (!s->closing) {
    if (s->hook) {
      napi_remove_async_cleanup_hook(s->hook);
      s->hook = NULL;
    }
    begin_close(s);
  }
  return NULL;
}

static napi_value js_ref(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  sock_t *s = get_sock(env, argv[0]);
  if (!s) return NULL;
  bool on;
  CHECK(napi_get_value_bool(env, argv[1], &on));
  if (!s->closing) {
    if (on) uv_ref((uv_handle_t *)&s->poll);
    else uv_unref((uv_handle_t *)&s->poll);
  }
  return NULL;
}

static void set_num(napi_env env, napi_value o, const char *k, double d) {
  napi_value v;
  napi_create_double(env, d, &v);
  napi_set_named_property(env, o, k, v);
}

static napi_value js_stats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], o;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  sock_t *s = get_sock(env, argv[0]);
  if (!s) return NULL;
  CHECK(napi_create_object(env, &o));
  set_num(env, o, "received", s->received);
  set_num(env, o, "truncated", s->truncated);
  set_num(env, o, "sent", s->sent);
  set_num(env, o, "queued", s->queued);
  set_num(env, o, "pending", (double)s->pendCount);
  set_num(env, o, "dropped", s->dropped);
  set_num(env, o, "sendErrors", s->sendErrors);
  set_num(env, o, "recvErrors", s->recvErrors);
  set_num(env, o, "lastErrno", s->lastErrno);
  if (s->stamps) {
    napi_value bins;
    CHECK(napi_create_array_with_length(env, WAIT_BINS, &bins));
    for (uint32_t k = 0; k < WAIT_BINS; k++) {
      napi_value v;
      napi_create_double(env, s->waitBins[k], &v);
      napi_set_element(env, bins, k, v);
    }
    CHECK(napi_set_named_property(env, o, "waitBins", bins));
    set_num(env, o, "waitSum", s->waitSum);
  }
  return o;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor d[] = {
      {"open", NULL, js_open, NULL, NULL, NULL, napi_default, NULL},
      {"flush", NULL, js_flush, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL},
      {"connect", NULL, js_connect, NULL, NULL, NULL, napi_default, NULL},
      {"ref", NULL, js_ref, NULL, NULL, NULL, napi_default, NULL},
      {"stats", NULL, js_stats, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, sizeof d / sizeof d[0], d) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE_INIT() { return init(env, exports); }
