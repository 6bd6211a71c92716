/* SPDX-License-Identifier: MIT */
/*
 * objcheck.h: the structure of a .bpf.o checked before libbpf opens it.
 *
 * libbpf before 1.3 trusts the object: a type id past the end of the BTF, a
 * name offset past its strings, a symbol or relocation naming a section or
 * symbol that does not exist, or a section past the end of the file crash it
 * (found by tests/fuzz/fuzz_object.c against Debian 12's libbpf 1.1.2). The
 * checks here refuse such objects with a message naming what is wrong; an
 * object a compiler wrote passes them all.
 */
#include <elf.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <bpf/btf.h>

#include "objcheck.h"

#define MAX_TYPE_CHAIN 32 /* libbpf's own MAX_RESOLVE_DEPTH */

struct elf_view {
	const uint8_t *buf;
	size_t len;
	const Elf64_Shdr *sh;
	size_t shnum;
};

static bool in_file(const struct elf_view *v, uint64_t off, uint64_t size)
{
	return off <= v->len && size <= v->len - off;
}

/* A string table: inside the file and ending in NUL, so every name in it ends. */
static bool strtab_ok(const struct elf_view *v, size_t idx)
{
	const Elf64_Shdr *s = &v->sh[idx];

	return s->sh_type == SHT_STRTAB && s->sh_size > 0 && in_file(v, s->sh_offset, s->sh_size) &&
	       v->buf[s->sh_offset + s->sh_size - 1] == '\0';
}

static const char *sec_name(const struct elf_view *v, size_t shstrndx, size_t idx)
{
	const Elf64_Shdr *str = &v->sh[shstrndx];

	if (v->sh[idx].sh_name >= str->sh_size)
		return NULL;
	return (const char *)v->buf + str->sh_offset + v->sh[idx].sh_name;
}

static int check_symtab(const struct elf_view *v, size_t idx, size_t *nsyms, char *why, size_t len)
{
	const Elf64_Shdr *s = &v->sh[idx];
	Elf64_Sym sym;

	if (s->sh_entsize != sizeof(Elf64_Sym) || s->sh_size % sizeof(Elf64_Sym)) {
		snprintf(why, len,
			 "symbol table (section %zu) has entries of %llu bytes, expected %zu", idx,
			 (unsigned long long)s->sh_entsize, sizeof(Elf64_Sym));
		return -EINVAL;
	}
	if (s->sh_link >= v->shnum || !strtab_ok(v, s->sh_link)) {
		snprintf(why, len,
			 "symbol table (section %zu) links to section %u, not a string table", idx,
			 s->sh_link);
		return -EINVAL;
	}
	*nsyms = s->sh_size / sizeof(Elf64_Sym);
	for (size_t i = 0; i < *nsyms; i++) {
		memcpy(&sym, v->buf + s->sh_offset + i * sizeof(sym), sizeof(sym));
		if (sym.st_name >= v->sh[s->sh_link].sh_size) {
			snprintf(why, len,
				 "symbol %zu has its name at offset %u, past the string table", i,
				 sym.st_name);
			return -EINVAL;
		}
		if (sym.st_shndx >= v->shnum && sym.st_shndx < SHN_LORESERVE) {
			snprintf(why, len, "symbol %zu is in section %u of %zu", i, sym.st_shndx,
				 v->shnum);
			return -EINVAL;
		}
	}
	return 0;
}

static int check_rel(const struct elf_view *v, size_t idx, size_t symtab, size_t nsyms, char *why,
		     size_t len)
{
	const Elf64_Shdr *s = &v->sh[idx];
	Elf64_Rel rel;

	if (s->sh_entsize != sizeof(Elf64_Rel) || s->sh_size % sizeof(Elf64_Rel)) {
		snprintf(why, len, "relocation section %zu has entries of %llu bytes, expected %zu",
			 idx, (unsigned long long)s->sh_entsize, sizeof(Elf64_Rel));
		return -EINVAL;
	}
	if (s->sh_info >= v->shnum || s->sh_link != symtab) {
		snprintf(why, len,
			 "relocation section %zu applies to section %u with symbols of section %u",
			 idx, s->sh_info, s->sh_link);
		return -EINVAL;
	}
	for (size_t i = 0; i < s->sh_size / sizeof(rel); i++) {
		memcpy(&rel, v->buf + s->sh_offset + i * sizeof(rel), sizeof(rel));
		if (ELF64_R_SYM(rel.r_info) >= nsyms) {
			snprintf(why, len, "relocation %zu of section %zu names symbol %llu of %zu",
				 i, idx, (unsigned long long)ELF64_R_SYM(rel.r_info), nsyms);
			return -EINVAL;
		}
	}
	return 0;
}

/* ---- BTF ----------------------------------------------------------------- */

static bool type_ok(const struct btf *btf, uint32_t id)
{
	return id < btf__type_cnt(btf);
}

static bool name_ok(const struct btf *btf, uint32_t off)
{
	return btf__name_by_offset(btf, off) != NULL;
}

/* Modifiers and typedefs end in something else within MAX_TYPE_CHAIN steps. */
static bool chain_ends(const struct btf *btf, uint32_t id)
{
	for (int depth = 0; depth < MAX_TYPE_CHAIN; depth++) {
		const struct btf_type *t = btf__type_by_id(btf, id);

		if (!t || !(btf_is_mod(t) || btf_is_typedef(t) || btf_is_ptr(t)))
			return true;
		id = t->type;
	}
	return false;
}

static int check_one_type(const struct btf *btf, uint32_t id, char *why, size_t len)
{
	const struct btf_type *t = btf__type_by_id(btf, id);
	uint32_t bad = 0;
	bool refs_bad = false;

	if (!t || !name_ok(btf, t->name_off)) {
		snprintf(why, len, "BTF type %u has its name past the BTF strings", id);
		return -EINVAL;
	}
	switch (btf_kind(t)) {
	case BTF_KIND_PTR:
	case BTF_KIND_TYPEDEF:
	case BTF_KIND_VOLATILE:
	case BTF_KIND_CONST:
	case BTF_KIND_RESTRICT:
	case BTF_KIND_TYPE_TAG:
	case BTF_KIND_VAR:
	case BTF_KIND_DECL_TAG:
		refs_bad = !type_ok(btf, bad = t->type);
		break;
	case BTF_KIND_FUNC:
		refs_bad = !type_ok(btf, bad = t->type);
		if (!refs_bad && !btf_is_func_proto(btf__type_by_id(btf, t->type))) {
			snprintf(why, len, "BTF function %u has type %u, not a function prototype",
				 id, t->type);
			return -EINVAL;
		}
		break;
	case BTF_KIND_ARRAY: {
		const struct btf_array *a = btf_array(t);

		if (!type_ok(btf, a->type))
			refs_bad = true, bad = a->type;
		else if (!type_ok(btf, a->index_type))
			refs_bad = true, bad = a->index_type;
		break;
	}
	case BTF_KIND_STRUCT:
	case BTF_KIND_UNION: {
		const struct btf_member *m = btf_members(t);

		for (unsigned i = 0; i < btf_vlen(t) && !refs_bad; i++, m++) {
			if (!name_ok(btf, m->name_off)) {
				snprintf(why, len,
					 "BTF type %u: member %u has its name past the BTF strings",
					 id, i);
				return -EINVAL;
			}
			refs_bad = !type_ok(btf, bad = m->type);
		}
		break;
	}
	case BTF_KIND_FUNC_PROTO: {
		const struct btf_param *p = btf_params(t);

		refs_bad = !type_ok(btf, bad = t->type);
		for (unsigned i = 0; i < btf_vlen(t) && !refs_bad; i++, p++) {
			if (!name_ok(btf, p->name_off)) {
				snprintf(why, len,
					 "BTF type %u: parameter %u has its name past the BTF "
					 "strings",
					 id, i);
				return -EINVAL;
			}
			refs_bad = !type_ok(btf, bad = p->type);
		}
		break;
	}
	case BTF_KIND_ENUM:
	case BTF_KIND_ENUM64: {
		/* both element kinds start with name_off; only their size differs */
		size_t stride = btf_kind(t) == BTF_KIND_ENUM ? sizeof(struct btf_enum)
							     : sizeof(struct btf_enum64);
		const char *e = (const char *)(t + 1);

		for (unsigned i = 0; i < btf_vlen(t); i++, e += stride) {
			if (!name_ok(btf, ((const struct btf_enum *)e)->name_off)) {
				snprintf(why, len,
					 "BTF type %u: value %u has its name past the BTF strings",
					 id, i);
				return -EINVAL;
			}
		}
		break;
	}
	case BTF_KIND_DATASEC: {
		const struct btf_var_secinfo *vs = btf_var_secinfos(t);

		for (unsigned i = 0; i < btf_vlen(t) && !refs_bad; i++, vs++)
			refs_bad = !type_ok(btf, bad = vs->type);
		break;
	}
	default:
		break;
	}
	if (refs_bad) {
		snprintf(why, len, "BTF type %u refers to type %u, past the last type (%u)", id,
			 bad, btf__type_cnt(btf) - 1);
		return -EINVAL;
	}
	if (!chain_ends(btf, id)) {
		snprintf(why, len, "BTF type %u starts a loop of pointers, modifiers or typedefs",
			 id);
		return -EINVAL;
	}
	return 0;
}

static int check_btf(const struct elf_view *v, size_t idx, char *why, size_t len)
{
	const Elf64_Shdr *s = &v->sh[idx];
	struct btf *btf;
	int ret = 0;

	btf = btf__new(v->buf + s->sh_offset, s->sh_size);
	if (!btf)
		return 0; /* libbpf refuses it too, with its own message */
	for (uint32_t id = 1; id < btf__type_cnt(btf) && !ret; id++)
		ret = check_one_type(btf, id, why, len);
	btf__free(btf);
	return ret;
}

/* ---- the object ---------------------------------------------------------- */

static int check(const uint8_t *buf, size_t len, char *why, size_t wlen)
{
	struct elf_view v = { .buf = buf, .len = len };
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)buf;
	size_t symtab = 0, nsyms = 0, btf_idx = 0;
	int ret;

	if (len < sizeof(Elf64_Ehdr) || memcmp(buf, ELFMAG, SELFMAG) != 0) {
		snprintf(why, wlen, "not an ELF file");
		return -ENOEXEC;
	}
	if (buf[EI_CLASS] != ELFCLASS64 ||
	    buf[EI_DATA] !=
		    (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? ELFDATA2LSB : ELFDATA2MSB)) {
		snprintf(why, wlen, "not a 64-bit ELF file in this machine's byte order");
		return -ENOEXEC;
	}
	if (eh->e_shnum == 0 || eh->e_shentsize != sizeof(Elf64_Shdr) ||
	    !in_file(&v, eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr)) ||
	    eh->e_shoff % 8 != 0) {
		snprintf(why, wlen,
			 "its section headers (%u of %u bytes at offset %llu) are not in the file "
			 "or "
			 "not 8-byte aligned",
			 eh->e_shnum, eh->e_shentsize, (unsigned long long)eh->e_shoff);
		return -EINVAL;
	}
	v.sh = (const Elf64_Shdr *)(buf + eh->e_shoff);
	v.shnum = eh->e_shnum;
	if (eh->e_shstrndx >= v.shnum || !strtab_ok(&v, eh->e_shstrndx)) {
		snprintf(why, wlen, "its section names (section %u) are not a string table",
			 eh->e_shstrndx);
		return -EINVAL;
	}
	for (size_t i = 1; i < v.shnum; i++) {
		const Elf64_Shdr *s = &v.sh[i];
		const char *name = sec_name(&v, eh->e_shstrndx, i);

		if (!name) {
			snprintf(why, wlen, "section %zu has its name past the section names", i);
			return -EINVAL;
		}
		if (s->sh_type != SHT_NOBITS && !in_file(&v, s->sh_offset, s->sh_size)) {
			snprintf(why, wlen,
				 "section %zu (%s) of %llu bytes at offset %llu is past the end of "
				 "the file (%zu bytes)",
				 i, name, (unsigned long long)s->sh_size,
				 (unsigned long long)s->sh_offset, len);
			return -EINVAL;
		}
		if (s->sh_type == SHT_SYMTAB) {
			if (symtab) {
				snprintf(why, wlen, "two symbol tables (sections %zu and %zu)",
					 symtab, i);
				return -EINVAL;
			}
			symtab = i;
		}
		if (strcmp(name, ".BTF") == 0)
			btf_idx = i;
	}
	if (symtab) {
		ret = check_symtab(&v, symtab, &nsyms, why, wlen);
		if (ret)
			return ret;
	}
	for (size_t i = 1; i < v.shnum; i++) {
		if (v.sh[i].sh_type != SHT_REL)
			continue;
		if (!symtab) {
			snprintf(why, wlen, "relocation section %zu but no symbol table", i);
			return -EINVAL;
		}
		ret = check_rel(&v, i, symtab, nsyms, why, wlen);
		if (ret)
			return ret;
	}
	if (btf_idx && v.sh[btf_idx].sh_type != SHT_NOBITS)
		return check_btf(&v, btf_idx, why, wlen);
	return 0;
}

int bb_objcheck(const void *buf, size_t len, char *why, size_t wlen)
{
	if (wlen)
		why[0] = '\0';
	/* section headers are read in place: they must be aligned */
	if ((uintptr_t)buf % 8 != 0) {
		snprintf(why, wlen, "object buffer not 8-byte aligned");
		return -EINVAL;
	}
	return check(buf, len, why, wlen);
}
