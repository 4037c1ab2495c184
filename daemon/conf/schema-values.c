/* SPDX-License-Identifier: MIT */
#include "conf/schema-values.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "basic/fileio.h"
#include "basic/util.h"

#define PRINCIPALS_MAX 1024

/* ---- small typed helpers ---- */

bool schema_get_path(struct yaml_file *f, const yaml_node_t *n, const char *key, const char *base,
		     char **ret)
{
	const char *s;
	char *p;

	if (!yaml_get_string(f, n, key, &s))
		return false;
	p = path_relative_to(base, s);
	if (!p)
		return false;
	free(*ret);
	*ret = p;
	return true;
}

bool schema_get_dup(struct yaml_file *f, const yaml_node_t *n, const char *key, char **ret)
{
	const char *s;
	if (!yaml_get_string(f, n, key, &s))
		return false;
	free(*ret);
	*ret = strdup(s);
	return *ret != NULL;
}

/* https:// with a host, no credentials, no fragment; base URLs also no query. */
bool schema_get_url(struct yaml_file *f, const yaml_node_t *n, const char *key, bool allow_query,
		    char **ret)
{
	_cleanup_free_ char *copy = NULL;
	CURLU *u;
	char *scheme = NULL, *host = NULL, *user = NULL, *query = NULL, *frag = NULL;
	const char *s;
	bool ok = false;
	size_t len;

	if (!yaml_get_string(f, n, key, &s))
		return false;
	u = curl_url();
	if (!u)
		return false;
	if (curl_url_set(u, CURLUPART_URL, s, 0) != CURLUE_OK)
		yaml_err(f, n, "'%s': '%s' is not a valid URL", key, s);
	else if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
		 !streq(scheme, "https"))
		yaml_err(f, n, "'%s' must be an https:// URL, not '%s'", key, s);
	else if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host)
		yaml_err(f, n, "'%s': URL '%s' has no host", key, s);
	else if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK)
		yaml_err(f, n, "'%s': URL must not contain a user name or password", key);
	else if (curl_url_get(u, CURLUPART_FRAGMENT, &frag, 0) == CURLUE_OK)
		yaml_err(f, n, "'%s': URL must not contain a fragment", key);
	else if (!allow_query && curl_url_get(u, CURLUPART_QUERY, &query, 0) == CURLUE_OK)
		yaml_err(f, n, "'%s': URL must not contain a query", key);
	else
		ok = true;
	curl_free(scheme);
	curl_free(host);
	curl_free(user);
	curl_free(query);
	curl_free(frag);
	curl_url_cleanup(u);
	if (!ok)
		return false;
	copy = strdup(s);
	if (!copy)
		return false;
	len = strlen(copy);
	while (!allow_query && len > 8 && copy[len - 1] == '/') /* base URLs: no trailing slash */
		copy[--len] = '\0';
	free(*ret);
	*ret = TAKE_PTR(copy);
	return true;
}

/* A file holding a secret or key: a regular file, not readable by group or others. */
/* Why a secret or key file cannot be used, at n; false then. */
static bool private_file_error(struct yaml_file *f, const yaml_node_t *n, const char *path, int r)
{
	char why[256];

	if (r == -EISDIR || r == -EBADFD)
		yaml_err(f, n, "'%s' is not a regular file", path);
	else if (r == -EPERM || r == -ELOOP) {
		file_explain(AT_FDCWD, path, FILE_PRIVATE, why, sizeof(why));
		yaml_err(f, n, "'%s' %s", path, why);
	} else if (r == -ENODATA)
		yaml_err(f, n, "secret file '%s' is empty", path);
	else {
		errno = -r;
		yaml_err(f, n, "cannot access '%s': %m", path);
	}
	return false;
}

/* A file holding a key: opened as igtokend opens it (no symlink, owned by root or
 * us, not readable by group or others). Only a diagnostic: igtokend checks again
 * on the descriptor it reads the key from. */
bool schema_check_private_file(struct yaml_file *f, const yaml_node_t *n, const char *path,
			       bool must_exist)
{
	_cleanup_close_ int fd = -1;
	size_t size;
	int r = open_regular(AT_FDCWD, path, FILE_PRIVATE, SIZE_MAX, &fd, &size);

	if (r == -ENOENT && !must_exist)
		return true;
	return r < 0 ? private_file_error(f, n, path, r) : true;
}

bool schema_read_secret(struct yaml_file *f, const yaml_node_t *n, const char *path,
			struct secret **ret)
{
	int r = secret_read_file(AT_FDCWD, path, FILE_PRIVATE,
				 ret); /* opened once, checked on the fd */

	return r < 0 ? private_file_error(f, n, path, r) : true;
}

static bool principal_name_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 64 || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-' || (c == '$' && i == n - 1)))
			return false;
	}
	return true;
}

bool schema_resolve_user(const char *name, uid_t *ret)
{
	char buf[4096];
	struct passwd pw, *res = NULL;
	int64_t v;

	if (parse_int64(name, 0, INT32_MAX - 1, &v) == 0) {
		*ret = (uid_t)v;
		return true;
	}
	if (getpwnam_r(name, &pw, buf, sizeof(buf), &res) != 0 || !res)
		return false;
	*ret = res->pw_uid;
	return true;
}

bool schema_resolve_group(const char *name, gid_t *ret)
{
	char buf[16384];
	struct group gr, *res = NULL;
	int64_t v;

	if (parse_int64(name, 0, INT32_MAX - 1, &v) == 0) {
		*ret = (gid_t)v;
		return true;
	}
	if (getgrnam_r(name, &gr, buf, sizeof(buf), &res) != 0 || !res)
		return false;
	*ret = res->gr_gid;
	return true;
}

/* [root, "@group"]: unknown names are warnings (they match nobody until they exist). */
bool schema_get_principals(struct yaml_file *f, yaml_node_t *n, const char *key,
			   struct principal_list *ret)
{
	size_t count;

	if (!yaml_is_sequence(f, n, key))
		return false;
	count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	if (count > PRINCIPALS_MAX) {
		yaml_err(f, n, "'%s' has more than %d entries", key, PRINCIPALS_MAX);
		return false;
	}
	free(ret->items);
	ret->items = calloc(count + 1, sizeof(*ret->items));
	ret->n = 0;
	if (!ret->items)
		return false;
	for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
	     it++) {
		yaml_node_t *e = yaml_file_node(f, *it);
		struct principal *p = &ret->items[ret->n];
		const char *s;

		if (!yaml_get_string(f, e, key, &s))
			continue;
		p->is_group = s[0] == '@';
		if (!principal_name_valid(s + p->is_group)) {
			yaml_err(f, e, "'%s': '%s' is not a user name or @group", key, s);
			continue;
		}
		p->name = strdup(s + p->is_group);
		if (!p->name)
			return false;
		p->resolved = p->is_group ? schema_resolve_group(p->name, &p->gid)
					  : schema_resolve_user(p->name, &p->uid);
		if (!p->resolved)
			yaml_warn(f, e, "'%s': %s '%s' does not exist; it matches nobody", key,
				  p->is_group ? "group" : "user", p->name);
		ret->n++;
	}
	return true;
}

bool schema_get_strv(struct yaml_file *f, yaml_node_t *n, const char *key, size_t max,
		     struct config_pos **ret_pos, char ***ret)
{
	_cleanup_strv_free_ char **l = NULL;
	_cleanup_free_ struct config_pos *pos = NULL;
	size_t count, i = 0;
	bool ok = true;

	if (!yaml_is_sequence(f, n, key))
		return false;
	count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	if (count > max) {
		yaml_err(f, n, "'%s' has more than %zu entries", key, max);
		return false;
	}
	l = calloc(count + 1, sizeof(char *));
	pos = calloc(count + 1, sizeof(*pos));
	if (!l || !pos)
		return false;
	for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
	     it++) {
		yaml_node_t *e = yaml_file_node(f, *it);
		const char *s;

		if (!yaml_get_string(f, e, key, &s)) {
			ok = false;
			continue;
		}
		pos[i] = yaml_node_pos(f, e);
		if (!(l[i++] = strdup(s)))
			return false;
	}
	if (!ok)
		return false;
	if (ret_pos) {
		free(*ret_pos);
		*ret_pos = TAKE_PTR(pos);
	}
	strv_free(*ret);
	*ret = TAKE_PTR(l);
	return true;
}

void *schema_new_entry(struct yaml_file *f, const char *key, yaml_node_t *k, yaml_node_t *v,
		       const char *what, void ***list, size_t *n, size_t size)
{
	void **grown = *list, *e;

	if (!name_is_valid(key)) {
		yaml_err(f, k,
			 "'%s' is not a valid %s name ([A-Za-z0-9._-], at most 64, not starting "
			 "with '.')",
			 key, what);
		return NULL;
	}
	if (!yaml_is_mapping(f, v, key))
		return NULL;
	if (*n >= CONFIG_ACCOUNTS_MAX) {
		yaml_err(f, k, "more than %d %ss", CONFIG_ACCOUNTS_MAX, what);
		return NULL;
	}
	if (*n % 64 == 0 && !(grown = reallocarray(*list, *n + 64, sizeof(void *)))) {
		yaml_err(f, k, "out of memory");
		return NULL;
	}
	*list = grown;
	e = calloc(1, size);
	if (!e) {
		yaml_err(f, k, "out of memory");
		return NULL;
	}
	(*list)[(*n)++] = e;
	return e;
}

bool schema_get_secret_path(struct yaml_file *f, const yaml_node_t *n, const char *key,
			    const char *credentials_dir, char **ret)
{
	const char *s;
	size_t len = strlen(key);

	if (len > 5 && streq(key + len - 5, "_file"))
		return schema_get_path(f, n, key, f->path, ret);
	if (!yaml_get_string(f, n, key, &s))
		return false;
	if (!name_is_valid(s)) {
		yaml_err(f, n, "'%s': '%s' is not a credential name", key, s);
		return false;
	}
	if (!credentials_dir) {
		yaml_err(f, n, "'%s' needs $CREDENTIALS_DIRECTORY (systemd LoadCredential=)", key);
		return false;
	}
	if (asprintf(ret, "%s/%s", credentials_dir, s) < 0) {
		*ret = NULL;
		return false;
	}
	return true;
}
