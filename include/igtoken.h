/* SPDX-License-Identifier: MIT */
#ifndef IGTOKEN_H
#define IGTOKEN_H

/* libigtoken: a fresh Instagram / Meta Graph API access token from igtokend.
 *
 *   char tok[1024];
 *   int64_t exp;
 *   int r = igtoken_get("shop-main", tok, sizeof(tok), &exp);
 *
 * The socket is $IGTOKEND_SOCKET, else /run/igtokend/igtokend.sock.
 * Thread-safe, no global state, nothing for the caller to free. Wipe buf
 * (explicit_bzero) when done with the token.
 */

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define IGTOKEN_DEFAULT_SOCKET "/run/igtokend/igtokend.sock"

/* Copies the token, NUL-terminated, into buf and its expiry (Unix seconds, 0 =
 * never) into *expires_at (which may be NULL). Returns 0, or:
 *   -EACCES        the caller may not read this account (or it does not exist)
 *   -ENOENT        no such account (answered to admins)
 *   -EKEYEXPIRED   no valid token: none yet, expired, or re-authorization required
 *   -ECONNREFUSED  the daemon is not running
 *   -ENOBUFS       buf is too small
 *   -EIO, -EPROTO, -ETIMEDOUT, -EINVAL  other failures */
int igtoken_get(const char *account, char *buf, size_t len, int64_t *expires_at);

#ifdef __cplusplus
}
#endif

#endif
