/* SPDX-License-Identifier: MIT */
/* An app's rate-limit state in the cluster store (engine/cluster-rl.h). */
#include "engine/cluster-rl.h"

#include <stdio.h>

#include "basic/log.h"
#include "basic/util.h"
#include "cluster/owner.h"
#include "cluster/tokens.h"
#include "engine/app.h"
#include "store/vault.h"

static void on_put(const struct cluster_tok_result *r, void *userdata)
{
	(void)userdata;
	if (r->error || !r->done)
		log_info("cluster store: an app's rate-limit state not written (%s)",
			 r->error ? "it does not answer" : "this host no longer owns the app");
}

void cluster_rl_app_changed(void *userdata, struct app *app)
{
	struct cluster_link *l = userdata;
	struct app_record rec = { .paused_until = app->rl.paused_until,
				  .throttle_count = app->rl.throttle_count,
				  .backoff_level = app->rl.backoff_level };
	_cleanup_free_ char *owner_key = NULL, *key = NULL;
	_cleanup_free_ unsigned char *sealed = NULL;
	int64_t epoch = cluster_sync_my_epoch(l, app->name);
	size_t len;
	int r;

	if (!epoch)
		return; /* only the owner's calls change it; it says so */
	if (asprintf(&owner_key, "%sapps/%s/owner", l->prefix, app->name) < 0 ||
	    asprintf(&key, "%sapps/%s/rl", l->prefix, app->name) < 0) {
		owner_key = key = NULL;
		return;
	}
	r = vault_seal_app(l->vault, app->name, &rec, &sealed, &len);
	if (r >= 0)
		r = cluster_tok_put_fenced(l->etcd, owner_key, epoch, key, sealed, len, on_put,
					   NULL);
	if (r < 0) {
		log_full(LOG_WARNING, r, NULL, app->name, NULL,
			 "cannot send the rate-limit state to the cluster store: %m");
	}
}

void cluster_rl_take(struct cluster_link *l, const struct etcd_kv *kv)
{
	size_t n = strlen(l->prefix);
	const char *rest = kv->key + n, *slash;
	_cleanup_free_ char *name = NULL;
	struct app_record rec;
	struct app *app;
	int r;

	if (strncmp(kv->key, l->prefix, n) != 0 || strncmp(rest, "apps/", 5) != 0)
		return;
	rest += 5;
	slash = strchr(rest, '/');
	if (!slash || !streq(slash, "/rl") || !(name = strndup(rest, (size_t)(slash - rest))))
		return;
	app = l->ops->find_app(l->userdata, name);
	if (!app)
		return;
	r = vault_open_app_sealed(l->vault, name, kv->value, kv->value_len, &rec);
	if (r < 0) {
		log_full(LOG_ERR, r, NULL, name, NULL,
			 "the cluster store's rate-limit state does not open here: not taken");
		return;
	}
	app_take_rl(app, &rec, "the app's owner in the cluster store");
}
