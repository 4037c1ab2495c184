/* SPDX-License-Identifier: MIT */
#include "cluster/session.h"

#include <inttypes.h>
#include <stdio.h>

#include "basic/log.h"
#include "basic/util.h"
#include "net/etcd.h"

/* What the session does next, one etcd call at a time. */
enum step { STEP_IDLE, STEP_GRANT, STEP_REGISTER, STEP_KEEPALIVE, STEP_HOSTS, STEP_REVOKE };

struct cluster_session {
	sd_event *event;
	struct etcd_client *etcd;
	char *host, *info, *host_key, *hosts_prefix, *hosts_end;
	int64_t ttl;
	const struct cluster_session_ops *ops;
	void *userdata;
	sd_event_source *tick;
	struct etcd_call *call; /* the one under way */
	enum step step;
	uint64_t sent_at; /* CLOCK_MONOTONIC, of the call under way */
	int64_t lease;
	uint64_t alive_until;
	bool up, registered, kept; /* kept: renewed in this round */
	bool lapsed;		   /* said once: the lease is not surely alive */
	char error[192];
	char **hosts, **infos; /* infos[i]: the value of hosts[i]'s key */
	size_t n_hosts;
	void (*stopped)(void *userdata);
	void *stopped_userdata;
};

static void changed(struct cluster_session *s)
{
	if (s->ops && s->ops->changed)
		s->ops->changed(s, s->userdata);
}

static void set_up(struct cluster_session *s, bool up, const char *why)
{
	bool was = s->up;

	s->up = up;
	snprintf(s->error, sizeof(s->error), "%s", up ? "" : why ?: "no answer");
	if (was != up) {
		if (up)
			log_info("cluster store: answering again (%s)",
				 etcd_client_endpoint(s->etcd));
		else
			log_warning("cluster store: %s", s->error);
		changed(s);
	}
}

static void lost_lease(struct cluster_session *s, const char *why)
{
	if (s->lease)
		log_warning("cluster: this host's lease %" PRId64 " is gone (%s)", s->lease, why);
	s->lease = 0;
	s->alive_until = 0;
	s->registered = false;
	changed(s);
}

static void next(struct cluster_session *s);

static void on_answer(const struct etcd_answer *a, void *userdata)
{
	struct cluster_session *s = userdata;
	enum step step = s->step;

	s->call = NULL;
	s->step = STEP_IDLE;
	if (a->error && a->code == 5 && (step == STEP_REGISTER || step == STEP_KEEPALIVE)) {
		lost_lease(s, "etcd does not know it"); /* NotFound: granted again next */
		next(s);
		return;
	}
	if (a->error) {
		char why[192];
		snprintf(why, sizeof(why), "%s: %s", a->endpoint, a->why ?: "error");
		set_up(s, false, why);
		if (step == STEP_REVOKE && s->stopped)
			s->stopped(s->stopped_userdata);
		return; /* the next tick tries again */
	}
	set_up(s, true, NULL);
	switch (step) {
	case STEP_GRANT:
		s->lease = a->lease_id;
		s->kept = true;
		s->alive_until = s->sent_at + (uint64_t)a->ttl * USEC_PER_SEC;
		log_info("cluster: this host holds lease %" PRId64 " (TTL %" PRId64 " s)", s->lease,
			 a->ttl);
		break;
	case STEP_REGISTER: s->registered = true; break;
	case STEP_KEEPALIVE:
		if (a->ttl <= 0)
			lost_lease(s, "etcd says it expired");
		else
			s->alive_until = s->sent_at + (uint64_t)a->ttl * USEC_PER_SEC;
		break;
	case STEP_HOSTS: {
		bool same = a->kvs.n == s->n_hosts;
		size_t skip = strlen(s->hosts_prefix);
		for (size_t i = 0; same && i < a->kvs.n; i++)
			same = streq(a->kvs.kv[i].key + skip, s->hosts[i]) &&
			       streq((const char *)a->kvs.kv[i].value, s->infos[i]);
		if (!same) {
			strv_free(s->hosts);
			strv_free(s->infos);
			s->hosts = calloc(a->kvs.n + 1, sizeof(char *));
			s->infos = calloc(a->kvs.n + 1, sizeof(char *));
			s->n_hosts = 0;
			for (size_t i = 0; s->hosts && s->infos && i < a->kvs.n; i++) {
				s->hosts[s->n_hosts] = strdup(a->kvs.kv[i].key + skip);
				s->infos[s->n_hosts] = strdup((const char *)a->kvs.kv[i].value);
				if (!s->hosts[s->n_hosts] || !s->infos[s->n_hosts]) {
					free(s->hosts[s->n_hosts]);
					free(s->infos[s->n_hosts]);
					s->hosts[s->n_hosts] = s->infos[s->n_hosts] = NULL;
					break;
				}
				s->n_hosts++;
			}
			changed(s);
		}
		return; /* a round ends here */
	}
	case STEP_REVOKE:
		s->lease = 0;
		s->alive_until = 0;
		if (s->stopped)
			s->stopped(s->stopped_userdata);
		return;
	default: return;
	}
	next(s);
}

/* The next call of a round: a lease, the host's key on it, the lease kept,
 * the hosts read. */
static void next(struct cluster_session *s)
{
	int k;

	if (s->call || s->stopped)
		return;
	s->sent_at = now_monotonic_usec();
	if (!s->lease) {
		s->step = STEP_GRANT;
		k = etcd_lease_grant(s->etcd, s->ttl, on_answer, s, &s->call);
	} else if (!s->registered) {
		struct etcd_op put = { .kind = ETCD_OP_PUT,
				       .key = s->host_key,
				       .value = s->info,
				       .value_len = strlen(s->info),
				       .lease = s->lease };
		s->step = STEP_REGISTER;
		k = etcd_txn(s->etcd, &(struct etcd_txn){ .success = &put, .n_success = 1 },
			     on_answer, s, &s->call);
	} else if (!s->kept) {
		s->kept = true;
		s->step = STEP_KEEPALIVE;
		k = etcd_lease_keepalive(s->etcd, s->lease, on_answer, s, &s->call);
	} else {
		s->step = STEP_HOSTS;
		k = etcd_range(s->etcd, s->hosts_prefix, s->hosts_end, 0, 0, on_answer, s,
			       &s->call);
	}
	if (k < 0) {
		s->step = STEP_IDLE;
		set_up(s, false, "cannot send a request to etcd");
	}
}

static int on_tick(sd_event_source *src, uint64_t usec, void *userdata)
{
	struct cluster_session *s = userdata;
	(void)usec;

	/* every TTL/6: a Meta call needs the lease surely alive for up to 2/3 of
	 * the TTL, so a renewal every third would leave gaps of a round trip */
	(void)sd_event_source_set_time_relative(src, (uint64_t)s->ttl * USEC_PER_SEC / 6);
	if (s->lease && now_monotonic_usec() >= s->alive_until) {
		if (!s->lapsed) {
			log_warning("cluster: lease %" PRId64 " not surely alive any more: nothing "
				    "that needs it goes out until etcd renews it",
				    s->lease);
			s->lapsed = true;
			changed(s);
		}
	} else
		s->lapsed = false;
	if (!s->call) {
		s->kept = false; /* a new round: the lease renewed first */
		next(s);
	}
	return 0;
}

int cluster_session_new(sd_event *e, struct etcd_client *c,
			const struct cluster_session_config *cfg,
			const struct cluster_session_ops *ops, void *userdata,
			struct cluster_session **ret)
{
	struct cluster_session *s;
	char *hosts = NULL;
	int k;

	if (cfg->ttl_sec < 2 || !cfg->host[0] || strchr(cfg->host, '/'))
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->event = sd_event_ref(e);
	s->etcd = c;
	s->ttl = cfg->ttl_sec;
	s->ops = ops;
	s->userdata = userdata;
	snprintf(s->error, sizeof(s->error), "not asked yet");
	k = strjoin3(&hosts, cfg->prefix, "hosts/", "");
	if (k >= 0)
		s->hosts_prefix = hosts;
	if (k >= 0)
		k = etcd_prefix_end(hosts, &s->hosts_end);
	if (k >= 0)
		k = strjoin3(&s->host_key, hosts, cfg->host, "");
	if (k >= 0 && (!(s->host = strdup(cfg->host)) || !(s->info = strdup(cfg->info ?: "{}"))))
		k = -ENOMEM;
	if (k >= 0)
		k = sd_event_add_time_relative(e, &s->tick, CLOCK_MONOTONIC, 0, 10 * USEC_PER_MSEC,
					       on_tick, s);
	if (k >= 0)
		k = sd_event_source_set_enabled(s->tick, SD_EVENT_ON);
	if (k < 0) {
		cluster_session_free(s);
		return k;
	}
	(void)sd_event_source_set_description(s->tick, "cluster-session");
	*ret = s;
	return 0;
}

struct cluster_session *cluster_session_free(struct cluster_session *s)
{
	if (!s)
		return NULL;
	etcd_call_cancel(s->call);
	sd_event_source_disable_unref(s->tick);
	sd_event_unref(s->event);
	strv_free(s->hosts);
	strv_free(s->infos);
	free(s->host);
	free(s->info);
	free(s->host_key);
	free(s->hosts_prefix);
	free(s->hosts_end);
	free(s);
	return NULL;
}

int cluster_session_stop(struct cluster_session *s, void (*done)(void *userdata), void *userdata)
{
	int k;

	etcd_call_cancel(TAKE_PTR(s->call));
	(void)sd_event_source_set_enabled(s->tick, SD_EVENT_OFF);
	s->stopped = done;
	s->stopped_userdata = userdata;
	s->alive_until = 0; /* nothing more goes out under it */
	if (!s->lease) {
		done(userdata);
		return 0;
	}
	s->step = STEP_REVOKE;
	k = etcd_lease_revoke(s->etcd, s->lease, on_answer, s, &s->call);
	if (k < 0)
		done(userdata);
	return k;
}

bool cluster_session_store_up(const struct cluster_session *s)
{
	return s->up;
}

const char *cluster_session_error(const struct cluster_session *s)
{
	return s->error;
}

int64_t cluster_session_lease(const struct cluster_session *s)
{
	return s->lease;
}

uint64_t cluster_session_alive_until(const struct cluster_session *s)
{
	return s->alive_until > now_monotonic_usec() ? s->alive_until : 0;
}

bool cluster_session_alive_for(const struct cluster_session *s, uint64_t margin_usec)
{
	return s->alive_until > now_monotonic_usec() + margin_usec;
}

const char *cluster_session_host_info(const struct cluster_session *s, size_t i)
{
	return i < s->n_hosts && s->infos ? s->infos[i] : NULL;
}

int cluster_session_set_info(struct cluster_session *s, const char *info)
{
	char *copy = strdup(info);

	if (!copy)
		return -ENOMEM;
	free(s->info);
	s->info = copy;
	s->registered = false; /* put again in the next round */
	return 0;
}

char *const *cluster_session_hosts(const struct cluster_session *s, size_t *ret_n)
{
	*ret_n = s->n_hosts;
	return s->hosts;
}
