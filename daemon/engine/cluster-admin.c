/* SPDX-License-Identifier: MIT */
/* An admin's refresh asked of the app's owner (engine/cluster-admin.h). */
#include "engine/cluster-admin.h"

#include <cjson/cJSON.h>
#include <stdio.h>

#include "basic/log.h"
#include "basic/util.h"
#include "cluster/owner.h"
#include "cluster/session.h"
#include "engine/operation.h"
#include "net/etcd.h"

/* An admin waiting here for the owner's answer. */
struct cluster_fwd {
	struct cluster_link *link;
	char *account, *id, *req_key, *res_key;
	engine_done_t done;
	void *userdata;
	sd_event_source *timer;
	struct cluster_fwd *next;
};

/* A refresh run here for another host's admin (link NULL: this host leaves). */
struct cluster_served {
	struct cluster_link *link;
	char *res_key;
	struct cluster_served *next;
};

/* What the store answered to a put or delete of a request: a lost one times
 * out at the asking host (the owner's answer), or lapses with its lease. */
static void ignore_answer(const struct etcd_answer *a, void *userdata)
{
	(void)userdata;
	if (a->error)
		log_info("cluster store: a request's key not written (%s)", a->why ?: "no answer");
}

static void fwd_free(struct cluster_fwd *f)
{
	for (struct cluster_fwd **p = &f->link->fwds; *p; p = &(*p)->next)
		if (*p == f) {
			*p = f->next;
			break;
		}
	sd_event_source_disable_unref(f->timer);
	free(f->account);
	free(f->id);
	free(f->req_key);
	free(f->res_key);
	free(f);
}

static void put(struct cluster_link *l, const char *key, const char *value, bool on_lease)
{
	struct etcd_op op = { .kind = ETCD_OP_PUT,
			      .key = key,
			      .value = value,
			      .value_len = strlen(value),
			      .lease = on_lease ? cluster_session_lease(l->session) : 0 };

	if (etcd_txn(l->etcd, &(struct etcd_txn){ .success = &op, .n_success = 1 }, ignore_answer,
		     NULL, NULL) < 0)
		log_warning("cluster store: cannot send %s", key);
}

static void del(struct cluster_link *l, const char *key)
{
	struct etcd_op op = { .kind = ETCD_OP_DELETE, .key = key };

	(void)etcd_txn(l->etcd, &(struct etcd_txn){ .success = &op, .n_success = 1 }, ignore_answer,
		       NULL, NULL);
}

/* The admin hears (account may be gone: then nobody does). */
static void answer(struct cluster_fwd *f, int error, const char *message)
{
	struct cluster_link *l = f->link;
	struct account *a = l->ops->find(l->userdata, f->account);
	engine_done_t done = f->done;
	void *userdata = f->userdata;

	del(l, f->req_key);
	del(l, f->res_key);
	fwd_free(f);
	if (a)
		done(a, error, message, userdata);
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct cluster_fwd *f = userdata;
	(void)s;
	(void)usec;

	answer(f, -EREMOTEIO, "the app's owner did not answer in time (see its log)");
	return 0;
}

int cluster_admin_forward(void *userdata, struct account *a, engine_done_t done,
			  void *done_userdata, char *why, size_t why_len)
{
	struct cluster_link *l = userdata;
	const char *owner = l->owner ? cluster_owner_of(l->owner, a->app->name, NULL) : NULL;
	struct cluster_fwd *f;
	char value[256];
	int r;

	if (!l->synced || !owner || streq(owner, l->host) || !l->session ||
	    cluster_session_lease(l->session) <= 0) {
		snprintf(why, why_len, "%s",
			 !owner ? "no host owns the app now: try again in a few seconds"
			 : l->synced && streq(owner, l->host)
				 ? "this host's lease in the cluster store may lapse before Meta "
				   "answers: try again in a few seconds"
				 : "the cluster store does not answer");
		return -EREMOTEIO;
	}
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->link = l;
	f->done = done;
	f->userdata = done_userdata;
	f->next = l->fwds;
	l->fwds = f;
	r = (f->account = strdup(a->name)) &&
			    asprintf(&f->id, "%s-%llu", l->host,
				     (unsigned long long)++l->fwd_seq) >= 0 &&
			    asprintf(&f->req_key, "%sreq/%s", l->prefix, a->name) >= 0 &&
			    asprintf(&f->res_key, "%sres/%s", l->prefix, f->id) >= 0
		    ? 0
		    : -ENOMEM;
	if (r == 0)
		r = sd_event_add_time_relative(l->event, &f->timer, CLOCK_MONOTONIC,
					       (uint64_t)(l->timeout + 2 * l->ttl + 5) *
						       USEC_PER_SEC,
					       0, on_timeout, f);
	if (r < 0) {
		fwd_free(f);
		snprintf(why, why_len, "out of memory");
		return r;
	}
	snprintf(value, sizeof(value), "{\"id\":\"%s\",\"host\":\"%s\",\"at\":%lld}", f->id,
		 l->host, (long long)engine_clock_now());
	put(l, f->req_key, value, true);
	log_account(LOG_INFO, a->name, a->app->name, NULL,
		    "refresh asked of host %s (the app's owner)", owner);
	return 0;
}

/* The owner: the refresh asked by another host ended. */
static void served_done(struct account *a, int error, const char *message, void *userdata)
{
	struct cluster_served *s = userdata;
	cJSON *j = s->link ? cJSON_CreateObject() : NULL;
	char *text = NULL;
	(void)a;

	if (j) {
		cJSON_AddNumberToObject(j, "error", error);
		cJSON_AddStringToObject(j, "message", message ?: "");
		text = cJSON_PrintUnformatted(j);
	}
	if (text && s->link->session)
		put(s->link, s->res_key, text, true);
	cJSON_free(text);
	cJSON_Delete(j);
	for (struct cluster_served **p = s->link ? &s->link->served : &s; *p; p = &(*p)->next)
		if (*p == s) {
			*p = s->next;
			break;
		}
	free(s->res_key);
	free(s);
}

static void run_request(struct cluster_link *l, const char *account, const struct etcd_kv *kv)
{
	struct account *a = l->ops->find(l->userdata, account);
	cJSON *j = cJSON_Parse((const char *)kv->value);
	const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "id")),
		   *host = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "host"));
	const cJSON *at = cJSON_GetObjectItemCaseSensitive(j, "at");
	struct cluster_served *s;

	/* an old request's host has given up on it */
	if (!a || !id || !host || !cJSON_IsNumber(at) ||
	    at->valuedouble + (double)(l->timeout + 2 * l->ttl) < (double)engine_clock_now() ||
	    !cluster_sync_my_epoch(l, a->app->name) ||
	    (l->served_last && streq(l->served_last, id)) || !(s = calloc(1, sizeof(*s)))) {
		cJSON_Delete(j);
		return;
	}
	free(l->served_last);
	l->served_last = strdup(id);
	s->link = l;
	if (asprintf(&s->res_key, "%sres/%s", l->prefix, id) < 0) {
		free(s);
		cJSON_Delete(j);
		return;
	}
	s->next = l->served;
	l->served = s;
	log_account(LOG_INFO, a->name, a->app->name, NULL, "refresh requested by host %s", host);
	cJSON_Delete(j);
	operation_refresh(a, served_done, s);
}

void cluster_admin_take(struct cluster_link *l, const struct etcd_kv *kv)
{
	size_t n = strlen(l->prefix);
	const char *rest = kv->key + n;
	cJSON *j;

	if (strncmp(kv->key, l->prefix, n) != 0)
		return;
	if (strncmp(rest, "req/", 4) == 0) {
		run_request(l, rest + 4, kv);
		return;
	}
	if (strncmp(rest, "res/", 4) != 0)
		return;
	for (struct cluster_fwd *f = l->fwds; f; f = f->next)
		if (streq(f->id, rest + 4)) {
			const cJSON *e, *m;
			j = cJSON_Parse((const char *)kv->value);
			e = cJSON_GetObjectItemCaseSensitive(j, "error");
			m = cJSON_GetObjectItemCaseSensitive(j, "message");
			answer(f, cJSON_IsNumber(e) ? (int)e->valuedouble : -EREMOTEIO,
			       cJSON_IsString(m) && *m->valuestring ? m->valuestring : NULL);
			cJSON_Delete(j);
			return;
		}
}

void cluster_admin_done(struct cluster_link *l)
{
	while (l->fwds)
		answer(l->fwds, -ECANCELED, "igtokend is stopping");
	/* their refreshes end later, with nobody to tell */
	for (struct cluster_served *s = TAKE_PTR(l->served), *next; s; s = next) {
		next = s->next;
		s->link = NULL;
		s->next = NULL;
	}
	free(l->served_last);
	l->served_last = NULL;
}
