/* SPDX-License-Identifier: MIT */
/*
 * Key -> index maps for the SNMP tables' metrics and programs. An index is
 * handed out once and never reused, so an NMS that stored "metric 3" keeps
 * reading the same metric. (Series need no map: their index is the store's
 * series id.) bbsnmp_index_retire removes entries; the counter is not reset,
 * so a key that comes back gets a new index.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bbsnmp.h"

#define INITIAL_SLOTS 64

static uint32_t hash_key(const char *key, size_t len)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)key[i];
		h *= 16777619u;
	}
	return h;
}

void bbsnmp_index_map_init(struct bbsnmp_index_map *map, void (*child_free)(void *child))
{
	memset(map, 0, sizeof(*map));
	map->child_free = child_free;
}

void bbsnmp_index_map_destroy(struct bbsnmp_index_map *map)
{
	for (size_t i = 0; i < map->n_slots; i++) {
		struct bbsnmp_index_entry *e = map->slots[i], *next;

		for (; e; e = next) {
			next = e->next;
			if (e->child && map->child_free)
				map->child_free(e->child);
			free(e);
		}
	}
	free(map->slots);
	map->slots = NULL;
	map->n_slots = 0;
	map->n_entries = 0;
}

static int grow(struct bbsnmp_index_map *map)
{
	size_t n = map->n_slots ? map->n_slots * 2 : INITIAL_SLOTS;
	struct bbsnmp_index_entry **slots = calloc(n, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < map->n_slots; i++) {
		struct bbsnmp_index_entry *e = map->slots[i], *next;

		for (; e; e = next) {
			next = e->next;
			e->next = slots[e->hash & (n - 1)];
			slots[e->hash & (n - 1)] = e;
		}
	}
	free(map->slots);
	map->slots = slots;
	map->n_slots = n;
	return 0;
}

struct bbsnmp_index_entry *bbsnmp_index_find(const struct bbsnmp_index_map *map, const char *key,
					     size_t keylen)
{
	uint32_t h = hash_key(key, keylen);

	if (!map->n_slots)
		return NULL;
	for (struct bbsnmp_index_entry *e = map->slots[h & (map->n_slots - 1)]; e; e = e->next)
		if (e->hash == h && e->keylen == keylen && memcmp(e->key, key, keylen) == 0)
			return e;
	return NULL;
}

struct bbsnmp_index_entry *bbsnmp_index_get(struct bbsnmp_index_map *map, const char *key,
					    size_t keylen)
{
	uint32_t h = hash_key(key, keylen);
	struct bbsnmp_index_entry *e;

	if (map->n_slots) {
		for (e = map->slots[h & (map->n_slots - 1)]; e; e = e->next)
			if (e->hash == h && e->keylen == keylen && memcmp(e->key, key, keylen) == 0)
				return e;
	}
	if (map->last_index == UINT32_MAX) {
		errno = ERANGE;
		return NULL;
	}
	if (map->n_entries >= map->n_slots / 2 * 3 && grow(map) < 0) {
		errno = ENOMEM;
		return NULL;
	}
	e = calloc(1, sizeof(*e) + keylen + 1);
	if (!e) {
		errno = ENOMEM;
		return NULL;
	}
	e->hash = h;
	e->index = ++map->last_index;
	e->keylen = keylen;
	memcpy(e->key, key, keylen);
	e->key[keylen] = '\0';
	e->next = map->slots[h & (map->n_slots - 1)];
	map->slots[h & (map->n_slots - 1)] = e;
	map->n_entries++;
	return e;
}

size_t bbsnmp_index_retire(struct bbsnmp_index_map *map, uint64_t keep_from)
{
	size_t removed = 0;

	for (size_t i = 0; i < map->n_slots; i++) {
		struct bbsnmp_index_entry **link = &map->slots[i];

		while (*link) {
			struct bbsnmp_index_entry *e = *link;

			if (e->generation >= keep_from) {
				link = &e->next;
				continue;
			}
			*link = e->next;
			if (e->child && map->child_free)
				map->child_free(e->child);
			free(e);
			removed++;
		}
	}
	map->n_entries -= removed;
	return removed;
}
