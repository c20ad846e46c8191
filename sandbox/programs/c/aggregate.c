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

/* ---- numbers: the Go program's table.Number, operation for operation ---- */

static const double pow10[] = {1,    1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8, 1e9,
                               1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18};

/* slow takes what the fast path does not: exponents, long mantissas, a plus
 * sign. Like Go's strconv.ParseFloat it wants the whole field and no spaces. */
static int slow(const char *b, size_t n, double *out) {
	char tmp[64];
	if (n == 0 || n >= sizeof tmp || b[0] == ' ' || b[0] == '\t' || b[0] == '\n' || b[0] == '\r' ||
	    b[0] == '\v' || b[0] == '\f')
		return 0;
	memcpy(tmp, b, n);
	tmp[n] = 0;
	char *end;
	double v = strtod(tmp, &end);
	if (end != tmp + n)
		return 0;
	*out = v;
	return 1;
}

static int number(const char *b, size_t n, double *out) {
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

/* ---- groups: an open-addressing table keyed by the first field ---- */

typedef struct {
	char *key;
	size_t klen;
	uint64_t hash;
	long n;
	double *sums; /* per column; column 0 unused */
	long *nums;   /* numeric values seen per column */
} group;

static group *groups;      /* the table */
static size_t cap, used;   /* slots, groups */
static size_t ncols;       /* columns of the header */
static char **colname;
static size_t *colnlen;

static uint64_t hash(const char *b, size_t n) {
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)b[i]) * 1099511628211ull;
	return h;
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

static group *lookup(const char *k, size_t n) {
	if ((used + 1) * 2 > cap)
		grow();
	uint64_t h = hash(k, n);
	size_t j = h & (cap - 1);
	for (;;) {
		group *g = &groups[j];
		if (!g->key) {
			g->key = xrealloc(NULL, n);
			memcpy(g->key, k, n);
			g->klen = n;
			g->hash = h;
			g->sums = calloc(ncols, sizeof *g->sums);
			g->nums = calloc(ncols, sizeof *g->nums);
			if (!g->sums || !g->nums)
				die("out of memory", 0);
			used++;
			return g;
		}
		if (g->hash == h && g->klen == n && memcmp(g->key, k, n) == 0)
			return g;
		j = (j + 1) & (cap - 1);
	}
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

static void row(const char *rec, const char *end) {
	const char *p = rec, *f;
	int more = 1;
	size_t s = 0, n;
	field(&p, end, &more, &s, &f, &n);
	group *g = lookup(f, n);
	g->n++;
	for (size_t i = 1; i < ncols && field(&p, end, &more, &s, &f, &n); i++) {
		double v;
		if (number(f, n, &v)) {
			g->sums[i] += v;
			g->nums[i]++;
		}
	}
}

static void record(const char *rec, const char *end) {
	if (end > rec && end[-1] == '\r')
		end--;
	if (end == rec)
		return; /* empty lines are skipped */
	line++;
	if ((size_t)(end - rec) > scap) {
		scap = (size_t)(end - rec);
		scratch = xrealloc(scratch, scap);
	}
	if (ncols == 0)
		header(rec, end);
	else
		row(rec, end);
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
			if (groups[j].key && groups[j].nums[i] != groups[j].n)
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
				printf(",%.4f", g->sums[i] / (double)g->n);
		putchar('\n');
	}
	if (fflush(stdout) != 0)
		die("writing the result", 0);
}

int main(void) {
	size_t bcap = CHUNK, start = 0, end = 0, scanned = 0;
	char *buf = xrealloc(NULL, bcap);
	int quoted = 0, eof = 0;
	for (;;) {
		/* Hand out every complete record in buf[start:end]. */
		size_t i = scanned;
		for (; i < end; i++) {
			char c = buf[i];
			if (c == '"') {
				quoted = !quoted;
			} else if (c == '\n' && !quoted) {
				record(buf + start, buf + i);
				start = i + 1;
			}
		}
		scanned = end;
		if (eof) {
			if (quoted)
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
			bcap *= 2;
			buf = xrealloc(buf, bcap);
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
