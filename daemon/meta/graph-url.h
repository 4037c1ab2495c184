/* SPDX-License-Identifier: MIT */
#pragma once

/* The requests igtokend sends to Meta (CONTRACT sections 9 and 12), built in
 * guarded memory: a URL that carries a token or the app secret is a secret. */

#include "basic/secret.h"
#include "conf/config.h"

/* Requests (CONTRACT section 9). */
int graph_url_ig_refresh(const struct app_config *a, const struct secret *token,
			 struct secret **ret);
int graph_url_ig_exchange(const struct app_config *a, const struct secret *token,
			  struct secret **ret);
int graph_url_ig_me(const struct app_config *a, const struct secret *token, struct secret **ret);
/* Instagram code exchange: POST url with a form body. */
int graph_url_ig_code(const struct app_config *a, const char *code, struct secret **ret_url,
		      struct secret **ret_form);
/* fb_exchange_token; sixty_days: a system user's token (set_token_expires_in_60_days=true). */
int graph_url_fb_exchange(const struct app_config *a, const struct secret *token, bool sixty_days,
			  struct secret **ret);
int graph_url_fb_code(const struct app_config *a, const char *code, struct secret **ret);
int graph_url_fb_debug(const struct app_config *a, const struct secret *token, struct secret **ret);

/* Lowercase hex HMAC-SHA256 of the token keyed by the app secret (65 bytes with NUL). */
int graph_url_appsecret_proof(const struct secret *app_secret, const struct secret *token,
			      char out[65]);
