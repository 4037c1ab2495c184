/* SPDX-License-Identifier: MIT */
/* cluster: of igtokend.yaml. */
#include "conf/schema-cluster.h"

#include <stdio.h>
#include <unistd.h>

#include "basic/util.h"
#include "conf/schema-values.h"

#define CLUSTER_ENDPOINTS_MAX 16
#define CLUSTER_HOST_MAX      64

struct cluster_ctx {
	struct cluster_config *cc;
	const struct config_env *env;
	struct config *c;
	yaml_node_t *password_node;
	const char *password_key;
};

static bool endpoint_ok(const char *s)
{
	return (strncmp(s, "https://", 8) == 0 && s[8]) || (strncmp(s, "http://", 7) == 0 && s[7]);
}

static void get_password(struct yaml_file *f, const char *key, yaml_node_t *k, yaml_node_t *v,
			 struct cluster_ctx *x)
{
	struct cluster_config *cc = x->cc;

	if (x->password_node) {
		yaml_err(f, k, "'%s' and '%s' cannot both be set", x->password_key, key);
		return;
	}
	x->password_node = v;
	x->password_key = streq(key, "password_file") ? "password_file" : "password_credential";
	if (!schema_get_secret_path(f, v, key, x->env->credentials_dir, &cc->password_path))
		return;
	schema_read_secret(f, v, cc->password_path, &cc->password);
}

static bool cluster_pair(struct yaml_file *f, const char *key, yaml_node_t *k, yaml_node_t *v,
			 void *ud)
{
	struct cluster_ctx *x = ud;
	struct cluster_config *cc = x->cc;
	const char *s;

	if (streq(key, "endpoints")) {
		if (!schema_get_strv(f, v, key, CLUSTER_ENDPOINTS_MAX, NULL, &cc->endpoints))
			return true;
		if (!cc->endpoints[0])
			yaml_err(f, v, "'endpoints' lists no etcd endpoint");
		for (char **e = cc->endpoints; *e; e++)
			if (!endpoint_ok(*e))
				yaml_err(f, v,
					 "'endpoints': '%s' is not an https:// (or http://) URL "
					 "of an etcd member",
					 *e);
	} else if (streq(key, "name") || streq(key, "host")) {
		if (!yaml_get_string(f, v, key, &s))
			return true;
		if (!name_is_valid(s) || strlen(s) > CLUSTER_HOST_MAX)
			yaml_err(f, v,
				 "'%s': '%s' is not a valid name (letters, digits, '.', '_', '-'; "
				 "at most %d)",
				 key, s, CLUSTER_HOST_MAX);
		else
			schema_get_dup(f, v, key, streq(key, "name") ? &cc->name : &cc->host);
	} else if (streq(key, "lease_ttl")) {
		int64_t d;
		if (!yaml_get_duration(f, v, key, &d))
			return true;
		if (d < 3 || d > 600)
			yaml_err(f, v, "'lease_ttl' must be between 3s and 10m");
		else
			cc->lease_ttl = d;
	} else if (streq(key, "ca_file") || streq(key, "cert_file")) {
		schema_get_path(f, v, key, f->path,
				streq(key, "ca_file") ? &cc->ca_file : &cc->cert_file);
	} else if (streq(key, "key_file")) {
		if (schema_get_path(f, v, key, f->path, &cc->key_file))
			schema_check_private_file(f, v, cc->key_file, true);
	} else if (streq(key, "user"))
		schema_get_dup(f, v, key, &cc->user);
	else if (streq(key, "password_file") || streq(key, "password_credential"))
		get_password(f, key, k, v, x);
	else
		return false;
	return true;
}

void schema_parse_cluster(struct yaml_file *f, yaml_node_t *n, struct config *c,
			  const struct config_env *env)
{
	struct cluster_ctx x = { .env = env, .c = c };

	if (c->cluster) {
		yaml_err(f, n, "'cluster' is set twice");
		return;
	}
	if (!yaml_is_mapping(f, n, "cluster"))
		return;
	c->cluster = calloc(1, sizeof(*c->cluster));
	if (!c->cluster)
		return;
	x.cc = c->cluster;
	x.cc->lease_ttl = 12;
	x.cc->pos = yaml_node_pos(f, n);
	yaml_each_pair(f, n, "cluster", true, cluster_pair, &x);
	if (!x.cc->endpoints)
		yaml_err(f, n, "'cluster' needs 'endpoints' (the etcd members)");
	if (!x.cc->name)
		yaml_err(f, n, "'cluster' needs 'name' (keys live under /igtokend/NAME/)");
	if (!x.cc->cert_file != !x.cc->key_file)
		yaml_err(f, n, "'cert_file' and 'key_file' go together");
	if (x.cc->password && !x.cc->user)
		yaml_err(f, n, "a password needs 'user'");
	if (x.cc->user && !x.cc->password)
		yaml_err(f, n, "'user' needs 'password_file' or 'password_credential'");
}

void schema_check_cluster(struct config *c, struct config_diag *diag)
{
	struct cluster_config *cc = c->cluster;
	char host[256];

	if (!cc)
		return;
	/* a Meta call must end well inside the lease (CLUSTER.md): the owner checks
	 * that its lease is surely alive for timeout + 1s before each call */
	if ((c->refresh.timeout + 1) * 3 > cc->lease_ttl * 2)
		config_diag_at(diag, true, &cc->pos,
			       "'refresh.timeout' (%llds) leaves no room inside "
			       "'cluster.lease_ttl' "
			       "(%llds): timeout + 1s must be at most lease_ttl * 2/3",
			       (long long)c->refresh.timeout, (long long)cc->lease_ttl);
	if (cc->host)
		return;
	if (gethostname(host, sizeof(host)) < 0 || !name_is_valid(host) ||
	    strlen(host) > CLUSTER_HOST_MAX) {
		config_diag_at(diag, true, &cc->pos,
			       "'cluster' needs 'host': this machine's hostname is not a valid id");
		return;
	}
	cc->host = strdup(host);
}
