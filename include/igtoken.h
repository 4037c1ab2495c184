/* SPDX-License-Identifier: MIT */
#ifndef IGTOKEN_H
#define IGTOKEN_H

/* libigtoken: a fresh Instagram / Meta Graph API access token from igtokend.
 *
 *   char tok[1024];
 *   int64_t exp;
 *   int r = igtoken_get("shop-main", tok, sizeof(tok), &exp);
 *
 * The socket is $IGTOKEND_SOCKET, else /run/igtokend/igtokend.sock; a call waits
 * at most 10 s (igtoken_get_ex() takes both as arguments). Thread-safe, no global
 * state (its JSON parser, jansson, has none), nothing for the caller to free. Wipe
 * buf (explicit_bzero) when done with the token. man igtoken_get(3).
 */

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define IGTOKEN_DEFAULT_SOCKET "/run/igtokend/igtokend.sock"
/* The longest token igtokend keeps: a buffer of IGTOKEN_TOKEN_MAX + 1 bytes holds any. */
#define IGTOKEN_TOKEN_MAX 8192

/* Copies the token, NUL-terminated, into buf and its expiry (Unix seconds, 0 =
 * never) into *expires_at (which may be NULL). Returns 0, or:
 *   -EACCES        the caller may not read this account (or it does not exist)
 *   -ENOENT        no such account (answered to admins)
 *   -EKEYEXPIRED   no valid token: none yet, expired, or re-authorization required
 *   -ECONNREFUSED  the daemon is not running
 *   -ENOBUFS       buf is too small
 *   -EIO, -EPROTO, -ETIMEDOUT, -EINVAL  other failures */
int igtoken_get(const char *account, char *buf, size_t len, int64_t *expires_at);

#define IGTOKEN_DEFAULT_TIMEOUT_MS 10000

struct igtoken_request {
	const char *account;	 /* required */
	const char *socket_path; /* NULL: $IGTOKEND_SOCKET, else IGTOKEN_DEFAULT_SOCKET */
	int timeout_ms;		 /* for the whole call; 0: IGTOKEN_DEFAULT_TIMEOUT_MS, < 0: none */
};

struct igtoken_token {
	char token[IGTOKEN_TOKEN_MAX + 1]; /* NUL-terminated */
	int64_t expires_at;		   /* Unix seconds, 0 = never */
	char appsecret_proof[65]; /* lowercase hex; "" for apps that need none (instagram) */
};

/* Like igtoken_get(), with the socket and deadline given, and appsecret_proof for
 * platform facebook apps (send it with every Graph call made with the token).
 * Returns 0 with *ret filled, or the codes of igtoken_get() (-ETIMEDOUT when the
 * deadline passes). Signals do not cut the call short. Wipe *ret when done. */
int igtoken_get_ex(const struct igtoken_request *req, struct igtoken_token *ret);

#ifdef __cplusplus
}
#endif

#endif
