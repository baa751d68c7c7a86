/*
 * stress.c
 *		Lost-update stress test for occ: N clients increment a counter in a
 *		few hot rows of an occ-enabled table for T seconds, by read-modify-
 *		write, and at the end every row must hold exactly the increments the
 *		clients saw succeed.
 *
 * Client i uses, by i mod 4:
 *   0, 2  occ_update(tbl, id, <version read>, {"n": <n read + 1>}), retried
 *		   on OC409;
 *   1, 3  ORM-style optimistic locking: UPDATE ... SET n = <n read + 1>,
 *		   version = <version read + 1> WHERE id = $1 AND version = <version
 *		   read>, retried when it matched no row;
 *   and with -e, client 2 uses occ_update_if_match(tbl, id, <etag read>,
 *		   ...) instead, retried on OC412.
 * With -L the ORM clients leave out "AND version = ...", a blind write: the
 * run must then find lost updates (the checker's own negative control).
 * Every successful increment is counted by the client, with the version and
 * ETag it produced.  Checks at the end, per row:
 *   n = initial + successful increments, version = 1 + successful updates,
 *   the versions produced are exactly 2..version (each once), and no two
 *   successful updates produced the same ETag;
 * and overall: no error other than OC409 (occ_update), OC412
 * (occ_update_if_match) or "0 rows" (ORM).  Exits 1 on any violation.
 *
 * Connection parameters come from the libpq environment (PGHOST, PGPORT,
 * PGUSER, PGDATABASE) or -d CONNINFO.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#define MAX_ROWS	64
#define MAX_CLIENTS	256
#define TABLE		"occ_stress"

typedef enum
{
	MODE_OCC,
	MODE_ORM,
	MODE_IF_MATCH
} Mode;

static const char *const mode_names[] = {"occ_update", "orm", "if_match"};

/* One successful update: which row, the version and ETag it produced. */
typedef struct
{
	int			row;
	int64_t		version;
	char		etag[65];
} Success;

typedef struct
{
	int			index;
	Mode		mode;
	PGconn	   *conn;
	unsigned int seed;
	/* results */
	int64_t		ok[MAX_ROWS];
	int64_t		retries;
	int64_t		errors;
	char		first_error[512];
	Success    *log;
	size_t		nlog;
	size_t		caplog;
} Client;

static const char *conninfo = "";
static int	nclients = 8;
static int	seconds = 10;
static int	nrows = 4;
static bool use_if_match = false;
static bool lossy = false;		/* -L: the checker's negative control */
static const char *version_input = "ignore";
static int	verbose = 0;
static struct timespec deadline;

static void
die(const char *fmt, const char *a, const char *b)
{
	fprintf(stderr, "stress: ");
	fprintf(stderr, fmt, a, b);
	fprintf(stderr, "\n");
	exit(2);
}

static PGconn *
connect_db(void)
{
	PGconn	   *conn = PQconnectdb(conninfo);

	if (PQstatus(conn) != CONNECTION_OK)
		die("could not connect: %s%s", PQerrorMessage(conn), "");
	return conn;
}

/* Runs a setup statement; any failure is fatal. */
static void
exec_or_die(PGconn *conn, const char *sql)
{
	PGresult   *res = PQexec(conn, sql);
	ExecStatusType st = PQresultStatus(res);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		die("%s failed: %s", sql, PQerrorMessage(conn));
	PQclear(res);
}

static bool
time_left(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec < deadline.tv_sec ||
		(now.tv_sec == deadline.tv_sec && now.tv_nsec < deadline.tv_nsec);
}

static void
record_error(Client *c, const char *what, PGresult *res)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	c->errors++;
	if (c->first_error[0] == '\0')
		snprintf(c->first_error, sizeof(c->first_error), "%s: SQLSTATE %s: %s",
				 what, state ? state : "(none)", PQerrorMessage(c->conn));
}

static void
record_success(Client *c, int row, const char *version, const char *etag)
{
	Success    *s;

	if (c->nlog == c->caplog)
	{
		c->caplog = c->caplog ? c->caplog * 2 : 1024;
		c->log = realloc(c->log, c->caplog * sizeof(Success));
		if (c->log == NULL)
			die("out of memory%s%s", "", "");
	}
	s = &c->log[c->nlog++];
	s->row = row;
	s->version = strtoll(version, NULL, 10);
	snprintf(s->etag, sizeof(s->etag), "%s", etag);
	c->ok[row]++;
}

/* Is res an error with this SQLSTATE? */
static bool
is_state(PGresult *res, const char *state)
{
	const char *s = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	return PQresultStatus(res) == PGRES_FATAL_ERROR && s && strcmp(s, state) == 0;
}

/* One increment of row (id = row + 1), retried until it succeeds or time is up. */
static bool
increment(Client *c, int row)
{
	char		id[16];
	char		next_n[32];
	char		next_v[32];
	const char *params[4];

	snprintf(id, sizeof(id), "%d", row + 1);
	while (time_left())
	{
		PGresult   *res;
		long long	n;
		long long	v;
		char		etag[65];

		params[0] = id;
		res = PQexecPrepared(c->conn, "read", 1, params, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
		{
			record_error(c, "read", res);
			PQclear(res);
			return false;
		}
		n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		v = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
		snprintf(etag, sizeof(etag), "%s", PQgetvalue(res, 0, 2));
		PQclear(res);
		snprintf(next_n, sizeof(next_n), "%lld", n + 1);

		switch (c->mode)
		{
			case MODE_OCC:
			case MODE_IF_MATCH:
				{
					char		ver[32];

					snprintf(ver, sizeof(ver), "%lld", v);
					params[1] = c->mode == MODE_OCC ? ver : etag;
					params[2] = next_n;
					res = PQexecPrepared(c->conn, c->mode == MODE_OCC ? "occ" : "ifmatch",
										 3, params, NULL, NULL, 0);
				}
				if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
				{
					record_success(c, row, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
					PQclear(res);
					return true;
				}
				if (is_state(res, c->mode == MODE_OCC ? "OC409" : "OC412"))
				{
					c->retries++;
					PQclear(res);
					continue;
				}
				record_error(c, mode_names[c->mode], res);
				PQclear(res);
				return false;

			case MODE_ORM:
				{
					char		ver[32];

					snprintf(ver, sizeof(ver), "%lld", v);
					snprintf(next_v, sizeof(next_v), "%lld", v + 1);
					params[1] = next_n;
					params[2] = next_v;
					params[3] = ver;
					res = PQexecPrepared(c->conn, "orm", 4, params, NULL, NULL, 0);
				}
				if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
				{
					record_success(c, row, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
					PQclear(res);
					return true;
				}
				if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 0)
				{
					c->retries++;
					PQclear(res);
					continue;
				}
				record_error(c, "orm", res);
				PQclear(res);
				return false;
		}
	}
	return true;
}

static void
prepare_or_die(PGconn *conn, const char *name, const char *sql, int nparams)
{
	PGresult   *res = PQprepare(conn, name, sql, nparams, NULL);

	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		die("prepare failed: %s%s", PQerrorMessage(conn), "");
	PQclear(res);
}

static void *
client_main(void *arg)
{
	Client	   *c = arg;

	c->conn = connect_db();
	prepare_or_die(c->conn, "read",
				   "SELECT n, version, etag FROM " TABLE " WHERE id = $1::int", 1);
	prepare_or_die(c->conn, "occ",
				   "SELECT r->>'version', r->>'etag' FROM occ_update('" TABLE "', $1::int, "
				   "$2::bigint, jsonb_build_object('n', $3::bigint)) AS r", 3);
	prepare_or_die(c->conn, "ifmatch",
				   "SELECT r->>'version', r->>'etag' FROM occ_update_if_match('" TABLE "', "
				   "$1::int, '\"' || $2::text || '\"', jsonb_build_object('n', $3::bigint)) AS r", 3);
	prepare_or_die(c->conn, "orm", lossy ?
				   "UPDATE " TABLE " SET n = $2::bigint, version = $3::bigint "
				   "WHERE id = $1::int AND $4::bigint IS NOT NULL RETURNING version, etag" :
				   "UPDATE " TABLE " SET n = $2::bigint, version = $3::bigint "
				   "WHERE id = $1::int AND version = $4::bigint RETURNING version, etag", 4);
	while (time_left())
	{
		int			row = rand_r(&c->seed) % nrows;

		if (!increment(c, row))
			break;
	}
	PQfinish(c->conn);
	c->conn = NULL;
	return NULL;
}

static int
cmp_success(const void *a, const void *b)
{
	const Success *x = a;
	const Success *y = b;

	if (x->row != y->row)
		return x->row - y->row;
	return x->version < y->version ? -1 : x->version > y->version;
}

static int
cmp_etag(const void *a, const void *b)
{
	return strcmp(((const Success *) a)->etag, ((const Success *) b)->etag);
}

static void
usage(void)
{
	fprintf(stderr,
			"usage: stress [-c clients] [-t seconds] [-r rows] [-e] [-i ignore|next] [-L] [-v] [-d conninfo]\n"
			"  -e  client 2 of every 4 uses occ_update_if_match instead of occ_update\n"
			"  -i  version_input of the table (ORM clients assign read+1, so 'expected'\n"
			"      does not fit them)\n"
			"  -L  negative control: ORM clients drop their version condition, so updates\n"
			"      are lost and the run must fail\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	int			opt;
	PGconn	   *conn;
	Client	   *clients;
	pthread_t  *threads;
	char		sql[512];
	int64_t		initial[MAX_ROWS];
	int64_t		total_ok = 0,
				total_retries = 0,
				total_errors = 0;
	int64_t		by_mode[3] = {0, 0, 0};
	int			violations = 0;
	Success    *all;
	size_t		nall = 0;
	PGresult   *res;

	while ((opt = getopt(argc, argv, "c:t:r:ei:vd:L")) != -1)
	{
		switch (opt)
		{
			case 'c':
				nclients = atoi(optarg);
				break;
			case 't':
				seconds = atoi(optarg);
				break;
			case 'r':
				nrows = atoi(optarg);
				break;
			case 'e':
				use_if_match = true;
				break;
			case 'i':
				version_input = optarg;
				break;
			case 'L':
				lossy = true;
				break;
			case 'v':
				verbose++;
				break;
			case 'd':
				conninfo = optarg;
				break;
			default:
				usage();
		}
	}
	if (nclients < 1 || nclients > MAX_CLIENTS || seconds < 1 || nrows < 1 ||
		nrows > MAX_ROWS || optind != argc ||
		(strcmp(version_input, "ignore") != 0 && strcmp(version_input, "next") != 0))
		usage();

	/* the table: nrows hot rows, n starting at 1000 * id */
	conn = connect_db();
	exec_or_die(conn, "SET client_min_messages = warning");
	exec_or_die(conn, "DROP TABLE IF EXISTS " TABLE);
	exec_or_die(conn, "CREATE TABLE " TABLE " (id int PRIMARY KEY, n bigint NOT NULL, note text)");
	snprintf(sql, sizeof(sql),
			 "INSERT INTO " TABLE " SELECT i, 1000 * i, 'row ' || i FROM generate_series(1, %d) i",
			 nrows);
	exec_or_die(conn, sql);
	snprintf(sql, sizeof(sql), "SELECT occ_enable('" TABLE "', version_input => '%s')",
			 version_input);
	exec_or_die(conn, sql);
	for (int r = 0; r < nrows; r++)
		initial[r] = 1000LL * (r + 1);

	clients = calloc(nclients, sizeof(Client));
	threads = calloc(nclients, sizeof(pthread_t));
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += seconds;
	for (int i = 0; i < nclients; i++)
	{
		clients[i].index = i;
		clients[i].seed = 12345u + i;
		clients[i].mode = i % 2 == 1 ? MODE_ORM :
			(use_if_match && i % 4 == 2) ? MODE_IF_MATCH : MODE_OCC;
		if (pthread_create(&threads[i], NULL, client_main, &clients[i]) != 0)
			die("pthread_create failed%s%s", "", "");
	}
	for (int i = 0; i < nclients; i++)
		pthread_join(threads[i], NULL);

	/* what the clients saw */
	for (int i = 0; i < nclients; i++)
	{
		Client	   *c = &clients[i];
		int64_t		ok = 0;

		for (int r = 0; r < nrows; r++)
			ok += c->ok[r];
		total_ok += ok;
		by_mode[c->mode] += ok;
		total_retries += c->retries;
		total_errors += c->errors;
		nall += c->nlog;
		if (verbose)
			printf("client %d (%s): %" PRId64 " increments, %" PRId64 " retries, %" PRId64 " errors\n",
				   i, mode_names[c->mode], ok, c->retries, c->errors);
		if (c->errors)
		{
			printf("VIOLATION: client %d (%s): unexpected error: %s", i,
				   mode_names[c->mode], c->first_error);
			violations++;
		}
	}
	all = malloc((nall ? nall : 1) * sizeof(Success));
	nall = 0;
	for (int i = 0; i < nclients; i++)
	{
		memcpy(all + nall, clients[i].log, clients[i].nlog * sizeof(Success));
		nall += clients[i].nlog;
	}

	/* what the table holds */
	res = PQexec(conn, "SELECT id, n, version FROM " TABLE " ORDER BY id");
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != nrows)
		die("final read failed: %s%s", PQerrorMessage(conn), "");
	qsort(all, nall, sizeof(Success), cmp_success);
	{
		size_t		k = 0;

		for (int r = 0; r < nrows; r++)
		{
			int64_t		ok = 0;
			int64_t		n = strtoll(PQgetvalue(res, r, 1), NULL, 10);
			int64_t		v = strtoll(PQgetvalue(res, r, 2), NULL, 10);
			int64_t		expect_v = 2;
			bool		seq_ok = true;

			for (int i = 0; i < nclients; i++)
				ok += clients[i].ok[r];
			if (n != initial[r] + ok)
			{
				printf("VIOLATION: row %d: n = %" PRId64 ", expected %" PRId64 " (initial %" PRId64
					   " + %" PRId64 " increments): %" PRId64 " lost updates\n",
					   r + 1, n, initial[r] + ok, initial[r], ok, (int64_t) (initial[r] + ok - n));
				violations++;
			}
			if (v != 1 + ok)
			{
				printf("VIOLATION: row %d: version = %" PRId64 ", expected %" PRId64 "\n",
					   r + 1, v, 1 + ok);
				violations++;
			}
			/* the successes of this row produced versions 2, 3, ... each once */
			for (; k < nall && all[k].row == r; k++, expect_v++)
				if (all[k].version != expect_v && seq_ok)
				{
					printf("VIOLATION: row %d: successful updates produced version %" PRId64
						   " where %" PRId64 " was next (a version given out twice or skipped)\n",
						   r + 1, all[k].version, expect_v);
					seq_ok = false;
					violations++;
				}
		}
	}
	PQclear(res);

	/* no ETag was produced twice */
	qsort(all, nall, sizeof(Success), cmp_etag);
	for (size_t k = 1; k < nall; k++)
		if (strcmp(all[k].etag, all[k - 1].etag) == 0 || strlen(all[k].etag) == 0)
		{
			printf("VIOLATION: ETag \"%s\" produced by two successful updates\n", all[k].etag);
			violations++;
			break;
		}
	PQfinish(conn);

	printf("stress: %s: clients=%d seconds=%d rows=%d version_input=%s increments=%" PRId64
		   " (occ_update %" PRId64 ", if_match %" PRId64 ", orm %" PRId64 ") retries=%" PRId64
		   " errors=%" PRId64 " violations=%d\n",
		   violations ? "FAILED" : "ok", nclients, seconds, nrows, version_input,
		   total_ok, by_mode[MODE_OCC], by_mode[MODE_IF_MATCH], by_mode[MODE_ORM],
		   total_retries, total_errors, violations);
	if (total_ok == 0)
	{
		printf("stress: FAILED: no increment succeeded\n");
		return 1;
	}
	return violations ? 1 : 0;
}
