/*
 * aggregate.c: the example aggregate of tdsc's sandbox, in C.
 *
 * It does what sandbox/programs/aggregate (Go) does and prints the same bytes
 * for the same input: it reads a CSV with a header on stdin, groups the rows
 * by the first column, and writes one CSV row per group with the row count and
 * the mean of every column that is numeric in every row. Groups of fewer than
 * MIN_GROUP rows are left out, so no small group can be singled out.
 *
 * The same source is built for wasm32-wasip1 (the module a provider allows by
 * hash) and natively (the baseline of `tdsc bench compute --program c`); see
 * scripts/sandbox-c.sh. It uses only read, write, malloc and the formatting of
 * the output from the C library, so both builds run the program's own code on
 * the hot path, not two different C libraries.
 *
 * Exit status: 0, or 1 with a message on stderr (a line too long to hold, an
 * unterminated quoted field, out of memory).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MIN_GROUP 10
#define CHUNK (1 << 20)

static void die(const char *msg, long line) {
	if (line > 0)
		fprintf(stderr, "aggregate: line %ld: %s\n", line, msg);
	else
		fprintf(stderr, "aggregate: %s\n", msg);
	exit(1);
}

static void *xrealloc(void *p, size_t n) {
	p = realloc(p, n ? n : 1);
	if (!p)
		die("out of memory", 0);
	return p;
}

/* Keys and records are read eight bytes at a time: every buffer a key or a
 * record lies in has eight readable bytes past its end (PAD). */
#define PAD 8
#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

static inline uint64_t load8(const char *p) {
	uint64_t v;
	memcpy(&v, p, 8); /* little-endian on wasm32 and x86-64 alike */
	return v;
}

/* tail keeps the first r bytes of a word (all of it from eight). */
static inline uint64_t tail(uint64_t v, size_t r) { return r >= 8 ? v : v & ((1ull << (8 * r)) - 1); }

/* zeros flags the bytes of v that are zero: exact up to the lowest flag
 * (a borrow only reaches bytes above a zero byte). */
static inline uint64_t zeros(uint64_t v) { return (v - ONES) & ~v & HIGHS; }

/* ---- numbers: the Go program's table.Number, operation for operation ---- */

static const double pow10[] = {1,    1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8, 1e9,
                               1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18};

static int lower(int c) { return c | 0x20; }

/* prefix is how many bytes of b (n long) match word, ignoring case. */
static size_t prefix(const char *b, size_t n, const char *word) {
	size_t i = 0;
	while (i < n && word[i] && lower((unsigned char)b[i]) == word[i])
		i++;
	return i;
}

/* special is Go's: [+-]inf, [+-]infinity, nan, in any case. */
static int special(const char *b, size_t n, double *out) {
	size_t i = n > 0 && (b[0] == '+' || b[0] == '-');
	if (n - i == 3 && !i && prefix(b, n, "nan") == 3) {
		*out = __builtin_nan("");
		return 1;
	}
	size_t m = prefix(b + i, n - i, "infinity");
	if ((m == 3 && n - i == 3) || (m == 8 && n - i == 8)) {
		*out = b[0] == '-' ? -__builtin_inf() : __builtin_inf();
		return 1;
	}
	return 0;
}

/* underscores is Go's underscoreOK: an underscore only between digits, or
 * between a base prefix and a digit. */
static int underscores(const char *b, size_t n) {
	size_t i = 0;
	char saw = '^';
	int hex = 0;
	if (n && (b[0] == '+' || b[0] == '-'))
		b++, n--;
	if (n >= 2 && b[0] == '0' && (lower(b[1]) == 'b' || lower(b[1]) == 'o' || lower(b[1]) == 'x')) {
		i = 2;
		saw = '0';
		hex = lower(b[1]) == 'x';
	}
	for (; i < n; i++) {
		int c = (unsigned char)b[i];
		if ((c >= '0' && c <= '9') || (hex && lower(c) >= 'a' && lower(c) <= 'f')) {
			saw = '0';
		} else if (c == '_') {
			if (saw != '0')
				return 0;
			saw = '_';
		} else {
			if (saw == '_')
				return 0;
			saw = '!';
		}
	}
	return saw != '_';
}

/* slow takes what the fast path does not, as Go's strconv.ParseFloat does:
 * the whole field, no spaces, a decimal or hexadecimal (0x…p…) number with
 * optional underscores between digits, inf, infinity or nan; a number out of
 * the range of a double is none. Checked by this syntax, the digits (without
 * their underscores) go to strtod, which rounds correctly as Go does. */
static int slow(const char *b, size_t n, double *out) {
	if (special(b, n, out))
		return 1;
	static char *tmp;
	static size_t tcap;
	if (n + 16 > tcap) {
		tcap = n + 16;
		tmp = xrealloc(tmp, tcap);
	}
	size_t i = 0, t = 0;
	int under = 0, mant = 0, hex = 0;
	if (i < n && (b[i] == '+' || b[i] == '-'))
		tmp[t++] = b[i++];
	if (n - i >= 2 && b[i] == '0' && lower(b[i + 1]) == 'x') {
		hex = 1;
		tmp[t++] = '0', tmp[t++] = 'x';
		i += 2;
	}
	int dot = 0;
	for (; i < n; i++) {
		int c = (unsigned char)b[i];
		if (c == '_') {
			under = 1;
			continue;
		}
		if (c == '.' && !dot) {
			dot = 1;
		} else if ((c >= '0' && c <= '9') || (hex && lower(c) >= 'a' && lower(c) <= 'f')) {
			mant = 1;
		} else {
			break;
		}
		tmp[t++] = (char)c;
	}
	if (!mant)
		return 0;
	if (i < n && lower((unsigned char)b[i]) == (hex ? 'p' : 'e')) {
		tmp[t++] = b[i++];
		if (i < n && (b[i] == '+' || b[i] == '-'))
			tmp[t++] = b[i++];
		int exp = 0, sig = 0; /* digits, and significant ones copied */
		for (; i < n; i++) {
			int c = (unsigned char)b[i];
			if (c == '_') {
				under = 1;
				continue;
			}
			if (c < '0' || c > '9')
				break;
			exp++;
			if (sig == 0 && c == '0')
				continue;
			if (sig < 7) {
				tmp[t++] = (char)c;
				sig++;
			} else { /* an exponent of eight digits or more: as large as seven nines */
				memset(tmp + t - 7, '9', 7);
			}
		}
		if (!exp)
			return 0;
		if (!sig)
			tmp[t++] = '0';
	} else if (hex) {
		return 0; /* Go wants the exponent of a hexadecimal number */
	}
	if (i != n || (under && !underscores(b, n)))
		return 0;
	tmp[t] = 0;
	errno = 0;
	char *end;
	double v = strtod(tmp, &end);
	if (*end || (errno == ERANGE && (v == __builtin_inf() || v == -__builtin_inf())))
		return 0;
	*out = v;
	return 1;
}

__attribute__((noinline)) static int numloop(const char *b, size_t n, double *out) {
	if (n == 0)
		return 0;
	size_t i = 0;
	int neg = 0;
	if (b[0] == '-')
		neg = 1, i = 1;
	uint64_t mant = 0;
	int digits = 0, frac = 0, dot = 0;
	for (; i < n; i++) {
		unsigned c = (unsigned char)b[i];
		if (c - '0' < 10) {
			if (digits >= 18)
				return slow(b, n, out);
			mant = mant * 10 + (c - '0');
			digits++;
			frac += dot;
		} else if (c == '.' && !dot) {
			dot = 1;
		} else {
			return slow(b, n, out);
		}
	}
	if (digits == 0)
		return 0;
	double f = (double)mant / pow10[frac];
	*out = neg ? -f : f;
	return 1;
}

/* digits is the value of the first n (0..8) bytes of w, or -1 when one is
 * not a decimal digit: eight bytes at once, the n moved to the top of the
 * word (the bytes below stand for leading zeros). */
static inline int64_t digits(uint64_t w, size_t n) {
	if (n == 0)
		return 0;
	uint64_t x = ((w << (8 * (8 - n))) ^ (ONES * '0')) & (~0ull << (8 * (8 - n)));
	if (((x + ONES * 0x76) | x) & HIGHS)
		return -1;
	x = (x * 2561) >> 8 & 0x00ff00ff00ff00ffull;
	x = (x * 6553601) >> 16 & 0x0000ffff0000ffffull;
	return (int64_t)((x * 42949672960001ull) >> 32);
}

static const uint64_t ipow10[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000};

/* number is numloop with [-]digits[.digits] of at most eight digits on each
 * side read a word at a time (first is the word at b); it gives the same
 * double: the same mantissa divided by the same power of ten. */
static inline int number(const char *b, size_t n, uint64_t first, double *out) {
	size_t i = n > 0 && (first & 0xff) == '-';
	size_t rest = n - i;
	if (rest == 0 || rest > 17)
		return numloop(b, n, out);
	uint64_t w = i ? load8(b + 1) : first;
	uint64_t dot = zeros(w ^ (ONES * '.'));
	if (rest < 8)
		dot &= (1ull << (8 * rest)) - 1;
	size_t ilen = dot ? (size_t)__builtin_ctzll(dot) >> 3 : rest;
	size_t flen = dot ? rest - ilen - 1 : 0;
	if (ilen > 8 || flen > 8 || ilen + flen == 0)
		return numloop(b, n, out);
	int64_t ip = digits(w, ilen), fp = flen ? digits(load8(b + i + ilen + 1), flen) : 0;
	if (ip < 0 || fp < 0)
		return numloop(b, n, out);
	double f = (double)((uint64_t)ip * ipow10[flen] + (uint64_t)fp) / pow10[flen];
	*out = i ? -f : f;
	return 1;
}

/* ---- groups: an open-addressing table keyed by the first field ---- */

typedef struct {
	uint64_t hash;
	uint64_t head; /* the key's first eight bytes, zero after its end */
	char *key;     /* NULL in an empty slot */
	size_t klen;
	long n;
	double *sums; /* per column (column 0 unused), then: */
	long *miss;   /* rows without a number in the column */
} group;

static group *groups;      /* the table */
static size_t cap, used;   /* slots, groups */
static size_t ncols;       /* columns of the header */
static char **colname;
static size_t *colnlen;

static uint64_t hash(const char *b, size_t n) {
	uint64_t h = (uint64_t)n * 0x9e3779b97f4a7c15ull;
	size_t i = 0;
	for (; i + 8 <= n; i += 8)
		h = (h ^ load8(b + i)) * 0xff51afd7ed558ccdull;
	if (i < n)
		h = (h ^ tail(load8(b + i), n - i)) * 0xff51afd7ed558ccdull;
	return h ^ (h >> 29);
}

static int same(const char *a, const char *b, size_t n) {
	size_t i = 0;
	for (; i + 8 <= n; i += 8)
		if (load8(a + i) != load8(b + i))
			return 0;
	return i == n || tail(load8(a + i) ^ load8(b + i), n - i) == 0;
}

static void grow(void) {
	size_t ncap = cap ? cap * 2 : 1024;
	group *ng = calloc(ncap, sizeof *ng);
	if (!ng)
		die("out of memory", 0);
	for (size_t i = 0; i < cap; i++) {
		if (!groups[i].key)
			continue;
		size_t j = groups[i].hash & (ncap - 1);
		while (ng[j].key)
			j = (j + 1) & (ncap - 1);
		ng[j] = groups[i];
	}
	free(groups);
	groups = ng;
	cap = ncap;
}

/* insert makes a group of key k in the empty slot of its hash, growing
 * the table first when it is half full. */
__attribute__((noinline)) static group *insert(const char *k, size_t n, uint64_t h, uint64_t head) {
	if ((used + 1) * 2 > cap)
		grow();
	size_t j = h & (cap - 1);
	while (groups[j].key)
		j = (j + 1) & (cap - 1);
	group *g = &groups[j];
	g->key = calloc(n + PAD, 1);
	g->sums = calloc(ncols, sizeof(double) + sizeof(long));
	if (!g->key || !g->sums)
		die("out of memory", 0);
	memcpy(g->key, k, n);
	g->klen = n;
	g->hash = h;
	g->head = head;
	g->miss = (long *)(g->sums + ncols);
	used++;
	return g;
}

/* lookup finds the group of key k (n bytes), or makes it. */
static inline group *lookup(const char *k, size_t n) {
	uint64_t h = hash(k, n), head = tail(load8(k), n);
	for (size_t j = h & (cap - 1); cap; j = (j + 1) & (cap - 1)) {
		group *g = &groups[j];
		if (!g->key)
			break;
		if (g->hash == h && g->head == head && g->klen == n && (n <= 8 || same(g->key + 8, k + 8, n - 8)))
			return g;
	}
	return insert(k, n, h, head);
}

/* ---- records ---- */

static char *scratch; /* unquoted fields of the current record */
static size_t scap;
static long line;

/* field hands out the record's fields one at a time: *p is the rest of the
 * record, end its end; it returns 0 after the last. A quoted field ("" for one
 * quote) is copied into scratch at *s. */
static int field(const char **p, const char *end, int *more, size_t *s, const char **f, size_t *n) {
	if (!*more)
		return 0;
	const char *q = *p;
	if (q < end && *q == '"') {
		size_t start = *s;
		q++;
		for (;;) {
			if (q >= end)
				die("unterminated quoted field", line);
			if (*q == '"') {
				if (q + 1 < end && q[1] == '"') {
					scratch[(*s)++] = '"';
					q += 2;
					continue;
				}
				break;
			}
			scratch[(*s)++] = *q++;
		}
		*f = scratch + start;
		*n = *s - start;
		q++; /* the closing quote */
		if (q >= end)
			*more = 0;
		else
			q++; /* the comma */
		*p = q;
		return 1;
	}
	const char *c = q;
	while (c < end && *c != ',')
		c++;
	*f = q;
	*n = (size_t)(c - q);
	if (c == end)
		*more = 0;
	else
		c++;
	*p = c;
	return 1;
}

static void header(const char *rec, const char *end) {
	const char *p = rec, *f;
	int more = 1;
	size_t s = 0, n;
	while (field(&p, end, &more, &s, &f, &n)) {
		colname = xrealloc(colname, (ncols + 1) * sizeof *colname);
		colnlen = xrealloc(colnlen, (ncols + 1) * sizeof *colnlen);
		colname[ncols] = xrealloc(NULL, n);
		memcpy(colname[ncols], f, n);
		colnlen[ncols] = n;
		ncols++;
	}
}

static double *vals; /* the fast path's numbers of a row, per column */
static char *isnum;

static void columns(void) {
	vals = calloc(ncols, sizeof *vals);
	isnum = calloc(ncols, 1);
	if (!vals || !isnum)
		die("out of memory", 0);
}

static void row(const char *rec, const char *end) {
	const char *p = rec, *f;
	int more = 1;
	size_t s = 0, n;
	field(&p, end, &more, &s, &f, &n);
	group *g = lookup(f, n);
	g->n++;
	size_t i = 1;
	for (; field(&p, end, &more, &s, &f, &n); i++) {
		double v;
		if (i >= ncols)
			continue; /* split all the same: a broken quote fails the run */
		if (number(f, n, load8(f), &v))
			g->sums[i] += v;
		else
			g->miss[i]++;
	}
	for (; i < ncols; i++)
		g->miss[i]++;
}

static void record(const char *rec, const char *end) {
	if (end > rec && end[-1] == '\r')
		end--;
	if (end == rec)
		return; /* empty lines are skipped */
	line++;
	if ((size_t)(end - rec) + PAD > scap) {
		scap = (size_t)(end - rec) + PAD;
		scratch = xrealloc(scratch, scap);
	}
	if (ncols == 0) {
		header(rec, end);
		columns();
	} else
		row(rec, end);
}

/* ---- the fast path: a whole row in one pass ---- */

/* span returns the first ',', '\n', '"' or '\r' at or after p, and in
 * *first the word at p; the caller knows one lies ahead in the buffer. */
static inline const char *span(const char *p, uint64_t *first) {
	uint64_t v = load8(p);
	*first = v;
	for (;;) {
		uint64_t m = zeros(v ^ (ONES * ',')) | zeros(v ^ (ONES * '\n')) | zeros(v ^ (ONES * '"')) |
		             zeros(v ^ (ONES * '\r'));
		if (m)
			return p + (__builtin_ctzll(m) >> 3);
		p += 8;
		v = load8(p);
	}
}

/* fast takes the row at p when it is plain: no quote, no carriage return.
 * It returns the byte after the row's newline, or NULL (nothing done) for the
 * general path. A newline lies ahead of p in the buffer. */
static const char *fast(const char *p) {
	uint64_t w;
	const char *q = span(p, &w);
	if (*q != ',' && *q != '\n')
		return NULL;
	if (q == p && *q == '\n')
		return NULL; /* an empty line */
	const char *key = p;
	size_t klen = (size_t)(q - p), i = 1;
	while (*q == ',') {
		const char *f = q + 1;
		q = span(f, &w);
		if (*q != ',' && *q != '\n')
			return NULL;
		if (i < ncols)
			isnum[i] = (char)number(f, (size_t)(q - f), w, &vals[i]);
		i++;
	}
	group *g = lookup(key, klen);
	g->n++;
	size_t j = 1;
	for (; j < i && j < ncols; j++) {
		if (isnum[j])
			g->sums[j] += vals[j];
		else
			g->miss[j]++;
	}
	for (; j < ncols; j++)
		g->miss[j]++;
	return q + 1;
}

/* ---- output ---- */

static int bykey(const void *a, const void *b) {
	const group *x = *(group *const *)a, *y = *(group *const *)b;
	size_t n = x->klen < y->klen ? x->klen : y->klen;
	int c = memcmp(x->key, y->key, n);
	if (c)
		return c;
	return (x->klen > y->klen) - (x->klen < y->klen);
}

/* putkey writes a group's name as Go's strconv.Quote would when it holds a
 * comma, a quote or a newline (the Go program's quote), and as it is otherwise.
 * For ASCII names the escapes are Go's; bytes from 0x80 are written as they
 * are (Go escapes invalid UTF-8 and unprintable runes). */
static void putkey(const char *k, size_t n) {
	int plain = 1;
	for (size_t i = 0; i < n; i++)
		if (k[i] == ',' || k[i] == '"' || k[i] == '\n')
			plain = 0;
	if (plain) {
		fwrite(k, 1, n, stdout);
		return;
	}
	putchar('"');
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)k[i];
		switch (c) {
		case '"': fputs("\\\"", stdout); break;
		case '\\': fputs("\\\\", stdout); break;
		case '\n': fputs("\\n", stdout); break;
		case '\t': fputs("\\t", stdout); break;
		case '\r': fputs("\\r", stdout); break;
		case '\a': fputs("\\a", stdout); break;
		case '\b': fputs("\\b", stdout); break;
		case '\f': fputs("\\f", stdout); break;
		case '\v': fputs("\\v", stdout); break;
		default:
			if (c < 0x20 || c == 0x7f)
				printf("\\x%02x", c);
			else
				putchar(c);
		}
	}
	putchar('"');
}

/* putmean writes a mean as Go's strconv.FormatFloat(v, 'f', 4, 64). */
static void putmean(double v) {
	if (v != v)
		fputs(",NaN", stdout);
	else if (v == __builtin_inf())
		fputs(",+Inf", stdout);
	else if (v == -__builtin_inf())
		fputs(",-Inf", stdout);
	else
		printf(",%.4f", v);
}

static void report(void) {
	if (ncols == 0)
		die("reading the header: EOF", 0);
	char *numeric = calloc(ncols, 1);
	group **list = calloc(used ? used : 1, sizeof *list);
	if (!numeric || !list)
		die("out of memory", 0);
	for (size_t i = 1; i < ncols; i++) {
		numeric[i] = used > 0;
		for (size_t j = 0; j < cap && numeric[i]; j++)
			if (groups[j].key && groups[j].miss[i] != 0)
				numeric[i] = 0;
	}
	size_t m = 0;
	for (size_t j = 0; j < cap; j++)
		if (groups[j].key && groups[j].n >= MIN_GROUP)
			list[m++] = &groups[j];
	qsort(list, m, sizeof *list, bykey);
	fwrite(colname[0], 1, colnlen[0], stdout);
	fputs(",count", stdout);
	for (size_t i = 1; i < ncols; i++)
		if (numeric[i]) {
			fputs(",mean_", stdout);
			fwrite(colname[i], 1, colnlen[i], stdout);
		}
	putchar('\n');
	for (size_t k = 0; k < m; k++) {
		group *g = list[k];
		putkey(g->key, g->klen);
		printf(",%ld", g->n);
		for (size_t i = 1; i < ncols; i++)
			if (numeric[i])
				putmean(g->sums[i] / (double)g->n);
		putchar('\n');
	}
	if (fflush(stdout) != 0)
		die("writing the result", 0);
}

/* lastnl is the index of the last newline in buf[from:to], or -1. */
static long lastnl(const char *buf, size_t from, size_t to) {
	while (to > from)
		if (buf[--to] == '\n')
			return (long)to;
	return -1;
}

int main(void) {
	size_t bcap = CHUNK, start = 0, end = 0, scanned = 0;
	char *buf = calloc(bcap + PAD, 1);
	int quoted = 0, pending = 0, eof = 0;
	if (!buf)
		die("out of memory", 0);
	for (;;) {
		/* Hand out every complete record in buf[start:end]: rows before the
		 * last newline by the fast path when they are plain; the others by
		 * finding their end, minding quotes (a quoted field may hold a
		 * newline), and splitting them. */
		long lim = lastnl(buf, start, end);
		for (;;) {
			if (!pending && ncols > 0) {
				/* The rows the fast path takes are counted here, in a
				 * register rather than the global a message reads. */
				const char *p = buf + start, *last = buf + lim, *r;
				long rows = 0;
				while (p <= last && (r = fast(p))) {
					p = r;
					rows++;
				}
				line += rows;
				start = (size_t)(p - buf);
			}
			size_t i = pending ? scanned : start;
			if (!pending)
				quoted = 0;
			for (; i < end; i++) {
				char c = buf[i];
				if (c == '"')
					quoted = !quoted;
				else if (c == '\n' && !quoted)
					break;
			}
			if (i == end) {
				pending = start < end;
				scanned = end;
				break;
			}
			record(buf + start, buf + i);
			start = i + 1;
			pending = 0;
		}
		if (eof) {
			if (quoted && pending)
				die("unterminated quoted field", line + 1);
			if (start < end)
				record(buf + start, buf + end);
			break;
		}
		/* Move the partial record to the front; grow if it fills buf. */
		memmove(buf, buf + start, end - start);
		scanned -= start;
		end -= start;
		start = 0;
		if (end == bcap) {
			buf = xrealloc(buf, 2 * bcap + PAD);
			memset(buf + bcap, 0, bcap + PAD);
			bcap *= 2;
		}
		ssize_t r = read(0, buf + end, bcap - end);
		if (r < 0)
			die("reading stdin", 0);
		if (r == 0)
			eof = 1;
		end += (size_t)r;
	}
	report();
	return 0;
}
