/* SPDX-License-Identifier: MIT */
/* The requests igtokend sends to Meta, built in guarded memory (a URL that
 * carries a token is a secret). */
#include <curl/curl.h>
#include <sodium.h>
#include <stdio.h>

#include "meta/graph-url.h"

#define GRAPH_URL_MAX 16384

struct sbuf {
	struct secret *s;
	size_t used;
	bool overflow;
};

static int sb_init(struct sbuf *b)
{
	*b = (struct sbuf){ 0 };
	return secret_new(1024, &b->s);
}

static void sb_add_n(struct sbuf *b, const char *s, size_t n)
{
	if (b->overflow || n > GRAPH_URL_MAX - b->used) {
		b->overflow = true;
		return;
	}
	if (b->used + n > b->s->len) { /* grow, in guarded memory */
		struct secret *ns = NULL;
		size_t size = b->s->len;
		while (size < b->used + n)
			size *= 2;
		if (secret_new(MIN(size, (size_t)GRAPH_URL_MAX), &ns) < 0) {
			b->overflow = true;
			return;
		}
		memcpy(ns->data, b->s->data, b->used);
		secret_free(b->s);
		b->s = ns;
	}
	memcpy(b->s->data + b->used, s, n);
	b->used += n;
}

static void sb_add(struct sbuf *b, const char *s)
{
	sb_add_n(b, s, strlen(s));
}

/* Percent-encodes a query value (curl's copy is wiped on free by our allocator). */
static void sb_add_escaped(struct sbuf *b, const char *s, size_t n)
{
	char *e = curl_easy_escape(NULL, s, (int)n);
	if (!e) {
		b->overflow = true;
		return;
	}
	sb_add(b, e);
	sodium_memzero(e, strlen(e));
	curl_free(e);
}

static void sb_param(struct sbuf *b, const char *sep, const char *key, const char *value)
{
	sb_add(b, sep);
	sb_add(b, key);
	sb_add(b, "=");
	sb_add_escaped(b, value, strlen(value));
}

static void sb_param_secret(struct sbuf *b, const char *sep, const char *key,
			    const struct secret *v)
{
	sb_add(b, sep);
	sb_add(b, key);
	sb_add(b, "=");
	sb_add_escaped(b, v->data, v->len);
}

static int sb_finish(struct sbuf *b, struct secret **ret)
{
	int r = b->overflow ? -E2BIG : secret_from_mem(b->s->data, b->used, ret);
	secret_free(b->s);
	b->s = NULL;
	return r;
}

int graph_url_ig_refresh(const struct app_config *a, const struct secret *token,
			 struct secret **ret)
{
	struct sbuf b;
	int r = sb_init(&b);
	if (r < 0)
		return r;
	sb_add(&b, a->api_url);
	sb_add(&b, "/refresh_access_token?grant_type=ig_refresh_token");
	sb_param_secret(&b, "&", "access_token", token);
	return sb_finish(&b, ret);
}

int graph_url_ig_exchange(const struct app_config *a, const struct secret *token,
			  struct secret **ret)
{
	struct sbuf b;
	int r = sb_init(&b);
	if (r < 0)
		return r;
	sb_add(&b, a->api_url);
	sb_add(&b, "/access_token?grant_type=ig_exchange_token");
	sb_param_secret(&b, "&", "client_secret", a->secret);
	sb_param_secret(&b, "&", "access_token", token);
	return sb_finish(&b, ret);
}

int graph_url_ig_me(const struct app_config *a, const struct secret *token, struct secret **ret)
{
	struct sbuf b;
	int r = sb_init(&b);
	if (r < 0)
		return r;
	sb_add(&b, a->api_url);
	sb_add(&b, "/me?fields=user_id,username");
	sb_param_secret(&b, "&", "access_token", token);
	return sb_finish(&b, ret);
}

int graph_url_ig_code(const struct app_config *a, const char *code, struct secret **ret_url,
		      struct secret **ret_form)
{
	struct sbuf u, f;
	int r;

	if ((r = sb_init(&u)) < 0)
		return r;
	if ((r = sb_init(&f)) < 0) {
		secret_free(u.s);
		return r;
	}
	sb_add(&u, a->oauth_url);
	sb_add(&u, "/oauth/access_token");
	sb_param(&f, "", "client_id", a->app_id);
	sb_param_secret(&f, "&", "client_secret", a->secret);
	sb_param(&f, "&", "grant_type", "authorization_code");
	sb_param(&f, "&", "redirect_uri", a->redirect_uri ?: "");
	sb_param(&f, "&", "code", code);
	r = sb_finish(&u, ret_url);
	if (r < 0) {
		secret_free(f.s);
		return r;
	}
	r = sb_finish(&f, ret_form);
	if (r < 0)
		*ret_url = secret_free(*ret_url);
	return r;
}

static void fb_base(struct sbuf *b, const struct app_config *a, const char *path)
{
	sb_add(b, a->api_url);
	sb_add(b, "/");
	sb_add(b, a->api_version);
	sb_add(b, path);
}

int graph_url_fb_exchange(const struct app_config *a, const struct secret *token, bool sixty_days,
			  struct secret **ret)
{
	struct sbuf b;
	int r = sb_init(&b);
	if (r < 0)
		return r;
	fb_base(&b, a, "/oauth/access_token?grant_type=fb_exchange_token");
	sb_param(&b, "&", "client_id", a->app_id);
	sb_param_secret(&b, "&", "client_secret", a->secret);
	sb_param_secret(&b, "&", "fb_exchange_token", token);
	if (sixty_days) /* a system user's expiring token: renewed for another 60 days */
		sb_add(&b, "&set_token_expires_in_60_days=true");
	return sb_finish(&b, ret);
}

int graph_url_fb_code(const struct app_config *a, const char *code, struct secret **ret)
{
	struct sbuf b;
	int r = sb_init(&b);
	if (r < 0)
		return r;
	fb_base(&b, a, "/oauth/access_token");
	sb_param(&b, "?", "client_id", a->app_id);
	sb_param(&b, "&", "redirect_uri", a->redirect_uri ?: "");
	sb_param_secret(&b, "&", "client_secret", a->secret);
	sb_param(&b, "&", "code", code);
	return sb_finish(&b, ret);
}

int graph_url_fb_debug(const struct app_config *a, const struct secret *token, struct secret **ret)
{
	struct sbuf b;
	int r = sb_init(&b);
	if (r < 0)
		return r;
	/* the app token APP_ID|APP_SECRET inspects; no appsecret_proof with an app token */
	fb_base(&b, a, "/debug_token");
	sb_param_secret(&b, "?", "input_token", token);
	sb_add(&b, "&access_token=");
	sb_add_escaped(&b, a->app_id, strlen(a->app_id));
	sb_add(&b, "%7C");
	sb_add_escaped(&b, a->secret->data, a->secret->len);
	return sb_finish(&b, ret);
}

int graph_url_appsecret_proof(const struct secret *app_secret, const struct secret *token,
			      char out[65])
{
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	crypto_auth_hmacsha256_state st;

	if (crypto_auth_hmacsha256_init(&st, (const unsigned char *)app_secret->data,
					app_secret->len) < 0 ||
	    crypto_auth_hmacsha256_update(&st, (const unsigned char *)token->data, token->len) <
		    0 ||
	    crypto_auth_hmacsha256_final(&st, mac) < 0)
		return -EIO;
	sodium_bin2hex(out, 65, mac, sizeof(mac));
	sodium_memzero(&st, sizeof(st));
	return 0;
}
