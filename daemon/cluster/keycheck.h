/* SPDX-License-Identifier: MIT */
#pragma once

/* The store's key check (CONTRACT 13): <prefix>meta holds the vault key check
 * sealed under the key of the host that first used the store, bound to the
 * cluster's name. A host whose key does not open it must not join: it would
 * write records the others cannot open. Written only if absent, in one txn:
 *   If(CREATE(meta) == 0) Then(Put(meta)) Else(Range(meta))
 * so a host with another key writes nothing. */

#include "basic/secret.h"
#include "net/etcd.h"

/* done(0: ours, or just written | -EKEYREJECTED: another key's | another
 * negative errno: the store did not answer, ask again). */
int cluster_keycheck(struct etcd_client *c, const char *prefix, const char *cluster_name,
		     const struct secret *key, void (*done)(int error, void *userdata),
		     void *userdata, struct etcd_call **ret);
