"""occ.retry: its backoff bounds, checked deterministically with injected sleep
and random, and its behaviour under real contention (two clients racing on
one row, each with its own connection and thread).
"""

import random
import threading
import unittest

import occ
from tests import support

DB = None


def setUpModule():
    global DB
    DB = support.create_database("occ_py_retry")


def tearDownModule():
    support.drop_database(DB)


def conflict(current=2):
    return occ.VersionConflict("version conflict", sqlstate="OC409",
                               detail={"table": "public.t", "key": 1,
                                       "expected_version": 1, "current_version": current})


class Failing:
    """A callable that raises the given errors in turn, then returns 'done'."""

    def __init__(self, *errors):
        self.errors = list(errors)
        self.calls = 0

    def __call__(self):
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"


class BackoffTest(unittest.TestCase):
    """No database: the schedule of waits, exactly."""

    def setUp(self):
        self.sleeps = []

    def run_retry(self, fn, **kw):
        kw.setdefault("sleep", self.sleeps.append)
        return occ.retry(fn, **kw)

    def test_delays_double_up_to_the_cap_times_jitter(self):
        fn = Failing(*[conflict() for _ in range(7)])
        self.assertEqual(self.run_retry(fn, attempts=8, base_delay=0.1, max_delay=1.0,
                                        random=lambda: 0.5), "done")
        self.assertEqual(fn.calls, 8)
        expected = [0.5 * min(1.0, 0.1 * 2 ** k) for k in range(7)]
        self.assertEqual(len(self.sleeps), 7)
        for got, want in zip(self.sleeps, expected):
            self.assertAlmostEqual(got, want)
        self.assertAlmostEqual(self.sleeps[-1], 0.5)  # capped: 0.1 * 2**6 = 6.4 > 1.0

    def test_full_jitter_stays_within_zero_and_the_capped_exponential(self):
        rng = random.Random(1234)
        seen_low = seen_high = False
        for _ in range(200):
            self.sleeps.clear()
            fn = Failing(*[conflict() for _ in range(10)])
            with self.assertRaises(occ.RetryExhausted):
                self.run_retry(fn, attempts=10, base_delay=0.05, max_delay=0.4, random=rng.random)
            self.assertEqual(len(self.sleeps), 9)
            for k, delay in enumerate(self.sleeps):
                bound = min(0.4, 0.05 * 2 ** k)
                self.assertGreaterEqual(delay, 0.0)
                self.assertLess(delay, bound)
                seen_low |= delay < bound * 0.1
                seen_high |= delay > bound * 0.9
        self.assertTrue(seen_low and seen_high, "jitter should spread over the whole range")

    def test_backoff_delay_extremes(self):
        self.assertEqual(occ.backoff_delay(1, 0.01, 1.0, lambda: 0.0), 0.0)
        self.assertAlmostEqual(occ.backoff_delay(1, 0.01, 1.0, lambda: 0.999999), 0.00999999)
        self.assertAlmostEqual(occ.backoff_delay(60, 0.01, 1.0, lambda: 0.999999), 0.999999)

    def test_exhaustion_raises_a_clear_final_error(self):
        last = conflict(current=9)
        fn = Failing(conflict(), conflict(), last)
        with self.assertRaises(occ.RetryExhausted) as cm:
            self.run_retry(fn, attempts=3, random=lambda: 1.0 - 1e-9)
        e = cm.exception
        self.assertEqual(fn.calls, 3)
        self.assertEqual(len(self.sleeps), 2)  # no wait after the last attempt
        self.assertEqual(e.attempts, 3)
        self.assertIs(e.last_error, last)
        self.assertIs(e.__cause__, last)
        self.assertEqual(e.last_error.current_version, 9)
        self.assertIn("gave up after 3 attempts", str(e))
        self.assertIn("version conflict", str(e))

    def test_not_found_and_precondition_required_are_not_retried(self):
        for err in (occ.NotFound("gone", sqlstate="OC404"),
                    occ.PreconditionRequired("no version", sqlstate="OC428"),
                    ValueError("bug")):
            with self.subTest(type(err).__name__):
                fn = Failing(err)
                with self.assertRaises(type(err)):
                    self.run_retry(fn)
                self.assertEqual(fn.calls, 1)
                self.assertEqual(self.sleeps, [])

    def test_precondition_failed_and_serialization_failure_are_retried(self):
        class DriverError(Exception):  # as psycopg reports 40001
            sqlstate = "40001"
        fn = Failing(occ.PreconditionFailed("etag", sqlstate="OC412"), DriverError())
        self.assertEqual(self.run_retry(fn, random=lambda: 0.0), "done")
        self.assertEqual(fn.calls, 3)
        self.assertEqual(self.sleeps, [0.0, 0.0])

    def test_retry_on_replaces_the_choice(self):
        fn = Failing(KeyError("x"))
        self.assertEqual(self.run_retry(fn, retry_on=KeyError, random=lambda: 0.0), "done")
        fn = Failing(conflict())
        with self.assertRaises(occ.VersionConflict):
            self.run_retry(fn, retry_on=KeyError)

    def test_on_retry_sees_attempt_error_and_delay(self):
        seen = []
        err = conflict()
        self.run_retry(Failing(err), random=lambda: 0.5, base_delay=0.2,
                       on_retry=lambda *a: seen.append(a))
        self.assertEqual(seen, [(1, err, 0.1)])

    def test_bad_arguments(self):
        with self.assertRaises(ValueError):
            occ.retry(lambda: 1, attempts=0)
        with self.assertRaises(ValueError):
            occ.retry(lambda: 1, base_delay=-1)

    def test_success_first_time_never_sleeps(self):
        self.assertEqual(self.run_retry(lambda: 42), 42)
        self.assertEqual(self.sleeps, [])


class ContentionTest(unittest.TestCase):
    """Two clients, two connections, one row."""

    def setUp(self):
        with support.connect(DB) as conn:
            conn.execute("""
                DROP TABLE IF EXISTS counters;
                CREATE TABLE counters (id int PRIMARY KEY, n int NOT NULL);
                SELECT occ_enable('counters');
                INSERT INTO counters VALUES (1, 0);
            """)

    def read_counter(self):
        with support.connect(DB) as conn:
            return occ.read(conn, "counters", 1)

    def race(self, work, *conn_options):
        """Run work(index, conn) in two threads at once; return their results or errors."""
        results = [None, None]

        def run(i):
            with support.connect(DB, **conn_options[i]) as conn:
                try:
                    results[i] = work(i, conn)
                except Exception as e:  # reported to the test thread
                    results[i] = e
        threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
            self.assertFalse(t.is_alive(), "a racing client hung")
        return results

    def lockstep_increment(self, attempts, autocommit=(True, True)):
        """Both clients read the same version before either writes: one must lose."""
        barrier = threading.Barrier(2, timeout=30)
        retries = []

        def work(i, conn):
            first = [True]

            def change(row):
                if first[0]:
                    first[0] = False
                    barrier.wait()  # both have read version 1 now
                return {"n": row["n"] + 1}
            row = occ.modify(conn, "counters", 1, change, attempts=attempts, base_delay=0.005,
                             max_delay=0.05, on_retry=lambda *a: retries.append((i,) + a))
            if not conn.autocommit:
                conn.commit()
            return row
        results = self.race(work, *({"autocommit": a} for a in autocommit))
        return results, retries

    def test_two_clients_racing_both_succeed_one_after_a_retry(self):
        results, retries = self.lockstep_increment(attempts=5)
        for r in results:
            self.assertIsInstance(r, dict, r)
        self.assertEqual(len(retries), 1, retries)  # exactly one lost the race, once
        loser, attempt, err, delay = retries[0]
        self.assertEqual(attempt, 1)
        self.assertIsInstance(err, occ.VersionConflict)
        self.assertEqual((err.expected_version, err.current_version), (1, 2))
        self.assertLess(delay, 0.005)
        self.assertEqual(results[loser]["version"], 3)
        final = self.read_counter()
        self.assertEqual((final["n"], final["version"]), (2, 3))  # no lost update

    def test_racing_inside_transactions(self):
        results, retries = self.lockstep_increment(attempts=5, autocommit=(False, False))
        for r in results:
            self.assertIsInstance(r, dict, r)
        self.assertEqual(len(retries), 1)
        self.assertEqual(self.read_counter()["n"], 2)

    def test_single_attempt_gives_up_with_the_conflict(self):
        results, retries = self.lockstep_increment(attempts=1)
        self.assertEqual(retries, [])
        errors = [r for r in results if isinstance(r, Exception)]
        self.assertEqual(len(errors), 1, results)
        e = errors[0]
        self.assertIsInstance(e, occ.RetryExhausted)
        self.assertEqual(e.attempts, 1)
        self.assertIsInstance(e.last_error, occ.VersionConflict)
        self.assertEqual(self.read_counter()["n"], 1)

    def test_many_increments_from_two_clients_lose_nothing(self):
        per_client = 40

        def work(i, conn):
            for _ in range(per_client):
                occ.modify(conn, "counters", 1, lambda row: {"n": row["n"] + 1},
                           attempts=50, base_delay=0.001, max_delay=0.02)
            return per_client
        results = self.race(work, {}, {})
        self.assertEqual(results, [per_client, per_client])
        final = self.read_counter()
        self.assertEqual((final["n"], final["version"]), (2 * per_client, 2 * per_client + 1))


if __name__ == "__main__":
    unittest.main()
