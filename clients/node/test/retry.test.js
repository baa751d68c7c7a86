// occ.retry: its backoff bounds, checked deterministically with injected
// sleep and random, and its behaviour under real contention (two clients,
// two connections, one row).

import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';

import * as occ from '../occ.js';
import { connect, createDatabase, dropDatabase } from '../support/testdb.js';

const conflict = (current = 2) => new occ.VersionConflict('version conflict', {
  code: 'OC409', detail: { table: 'public.t', key: 1, expected_version: 1, current_version: current },
});

// A function that throws the given errors in turn, then resolves to 'done'.
function failing(...errors) {
  const fn = async () => {
    fn.calls += 1;
    if (errors.length) throw errors.shift();
    return 'done';
  };
  fn.calls = 0;
  return fn;
}

function recorder() {
  const sleeps = [];
  const sleep = async (ms) => { sleeps.push(ms); };
  return { sleeps, sleep };
}

function seeded(seed) { // a small deterministic PRNG (mulberry32), values in [0, 1)
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const closeTo = (a, b) => Math.abs(a - b) < 1e-9;

describe('backoff (no database)', () => {
  it('doubles up to the cap, times the jitter', async () => {
    const { sleeps, sleep } = recorder();
    const fn = failing(...Array.from({ length: 7 }, () => conflict()));
    assert.equal(await occ.retry(fn, { attempts: 8, baseDelayMs: 100, maxDelayMs: 1000, sleep, random: () => 0.5 }), 'done');
    assert.equal(fn.calls, 8);
    const expected = [0, 1, 2, 3, 4, 5, 6].map((k) => 0.5 * Math.min(1000, 100 * 2 ** k));
    assert.equal(sleeps.length, 7);
    sleeps.forEach((got, i) => assert.ok(closeTo(got, expected[i]), `${got} != ${expected[i]}`));
    assert.ok(closeTo(sleeps.at(-1), 500)); // capped: 100 * 2**6 = 6400 > 1000
  });

  it('full jitter stays within 0 and the capped exponential', async () => {
    const random = seeded(1234);
    let low = false;
    let high = false;
    for (let run = 0; run < 200; run++) {
      const { sleeps, sleep } = recorder();
      const fn = failing(...Array.from({ length: 10 }, () => conflict()));
      await assert.rejects(occ.retry(fn, { attempts: 10, baseDelayMs: 50, maxDelayMs: 400, sleep, random }),
        occ.RetryExhausted);
      assert.equal(sleeps.length, 9);
      sleeps.forEach((d, k) => {
        const bound = Math.min(400, 50 * 2 ** k);
        assert.ok(d >= 0 && d < bound, `delay ${d} outside [0, ${bound})`);
        low ||= d < bound * 0.1;
        high ||= d > bound * 0.9;
      });
    }
    assert.ok(low && high, 'jitter should spread over the whole range');
  });

  it('backoffDelay at the extremes', () => {
    assert.equal(occ.backoffDelay(1, 10, 1000, () => 0), 0);
    assert.ok(closeTo(occ.backoffDelay(1, 10, 1000, () => 0.5), 5));
    assert.ok(closeTo(occ.backoffDelay(60, 10, 1000, () => 0.5), 500));
  });

  it('gives up with a clear final error', async () => {
    const { sleeps, sleep } = recorder();
    const last = conflict(9);
    const fn = failing(conflict(), conflict(), last);
    const err = await occ.retry(fn, { attempts: 3, sleep, random: () => 0.999 }).catch((e) => e);
    assert.ok(err instanceof occ.RetryExhausted);
    assert.equal(fn.calls, 3);
    assert.equal(sleeps.length, 2); // no wait after the last attempt
    assert.equal(err.attempts, 3);
    assert.equal(err.lastError, last);
    assert.equal(err.cause, last);
    assert.equal(err.lastError.currentVersion, 9);
    assert.match(err.message, /^gave up after 3 attempts: version conflict/);
  });

  it('does not retry NotFound, PreconditionRequired or other errors', async () => {
    for (const e of [
      new occ.NotFound('gone', { code: 'OC404' }),
      new occ.PreconditionRequired('no version', { code: 'OC428' }),
      new TypeError('bug'),
    ]) {
      const { sleeps, sleep } = recorder();
      const fn = failing(e);
      await assert.rejects(occ.retry(fn, { sleep }), (got) => got === e);
      assert.equal(fn.calls, 1);
      assert.deepEqual(sleeps, []);
    }
  });

  it('retries PreconditionFailed, and pg errors 40001 and OC409 as they come from pg', async () => {
    const { sleeps, sleep } = recorder();
    const pgConflict = Object.assign(new Error('version conflict'), {
      code: 'OC409', detail: '{"table":"public.t","key":1,"expected_version":1,"current_version":4}',
    });
    const seen = [];
    const fn = failing(new occ.PreconditionFailed('etag', { code: 'OC412' }),
      Object.assign(new Error('could not serialize'), { code: '40001' }), pgConflict);
    assert.equal(await occ.retry(fn, { sleep, random: () => 0, onRetry: (a, e) => seen.push(e) }), 'done');
    assert.equal(fn.calls, 4);
    assert.deepEqual(sleeps, [0, 0, 0]);
    assert.ok(seen[2] instanceof occ.VersionConflict); // translated before onRetry
    assert.equal(seen[2].currentVersion, 4);
  });

  it('retryOn replaces the choice', async () => {
    const { sleep } = recorder();
    assert.equal(await occ.retry(failing(new RangeError('x')), { sleep, retryOn: (e) => e instanceof RangeError }), 'done');
    await assert.rejects(occ.retry(failing(conflict()), { sleep, retryOn: () => false }), occ.VersionConflict);
  });

  it('onRetry sees the attempt, the error and the delay', async () => {
    const { sleep } = recorder();
    const seen = [];
    const e = conflict();
    await occ.retry(failing(e), { sleep, random: () => 0.5, baseDelayMs: 200, onRetry: (...a) => seen.push(a) });
    assert.deepEqual(seen, [[1, e, 100]]);
  });

  it('rejects bad options', async () => {
    await assert.rejects(occ.retry(async () => 1, { attempts: 0 }), RangeError);
    await assert.rejects(occ.retry(async () => 1, { baseDelayMs: -1 }), RangeError);
  });

  it('never sleeps when the first attempt succeeds', async () => {
    const { sleeps, sleep } = recorder();
    assert.equal(await occ.retry(async () => 42, { sleep }), 42);
    assert.deepEqual(sleeps, []);
  });

  it('uses real timers by default, briefly', async () => {
    const started = Date.now();
    assert.equal(await occ.retry(failing(conflict()), { baseDelayMs: 20, random: () => 0.99 }), 'done');
    assert.ok(Date.now() - started >= 15);
  });
});

describe('contention (two clients racing)', () => {
  let dbName;
  let clients = [];

  before(async () => {
    dbName = await createDatabase('occ_node_retry');
  });

  after(async () => {
    if (dbName) await dropDatabase(dbName);
  });

  beforeEach(async () => {
    const c = await connect(dbName);
    await c.query(`
      DROP TABLE IF EXISTS counters;
      CREATE TABLE counters (id int PRIMARY KEY, n int NOT NULL);
      SELECT occ_enable('counters');
      INSERT INTO counters VALUES (1, 0);
    `);
    await c.end();
  });

  async function withClients(fn) {
    clients = [await connect(dbName), await connect(dbName)];
    try {
      return await fn(clients);
    } finally {
      await Promise.all(clients.map((c) => c.end()));
    }
  }

  const counter = () => withClients(([c]) => occ.read(c, 'counters', 1));

  // Both clients read version 1 before either writes: exactly one must lose once.
  function barrier(n) {
    let waiting = 0;
    let release;
    const all = new Promise((resolve) => { release = resolve; });
    return () => {
      waiting += 1;
      if (waiting === n) release();
      return all;
    };
  }

  async function lockstep({ attempts, transaction = false }) {
    const wait = barrier(2);
    const retries = [];
    const results = await withClients((cs) => Promise.allSettled(cs.map(async (c, i) => {
      let first = true;
      if (transaction) await c.query('BEGIN');
      const row = await occ.modify(c, 'counters', 1, async (cur) => {
        if (first) {
          first = false;
          await wait(); // both have read version 1 now
        }
        return { n: cur.n + 1 };
      }, {
        attempts, baseDelayMs: 5, maxDelayMs: 50, savepoint: transaction,
        onRetry: (...a) => retries.push([i, ...a]),
      });
      if (transaction) await c.query('COMMIT');
      return row;
    })));
    return { results, retries };
  }

  it('both succeed, one after exactly one retry, and no update is lost', async () => {
    const { results, retries } = await lockstep({ attempts: 5 });
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'fulfilled']);
    assert.equal(retries.length, 1);
    const [loser, attempt, err, delay] = retries[0];
    assert.equal(attempt, 1);
    assert.ok(err instanceof occ.VersionConflict);
    assert.deepEqual([err.expectedVersion, err.currentVersion], [1, 2]);
    assert.ok(delay >= 0 && delay < 5);
    assert.equal(results[loser].value.version, 3);
    const final = await counter();
    assert.deepEqual([final.n, final.version], [2, 3]);
  });

  it('inside transactions, with a savepoint per attempt', async () => {
    const { results, retries } = await lockstep({ attempts: 5, transaction: true });
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'fulfilled']);
    assert.equal(retries.length, 1);
    assert.equal((await counter()).n, 2);
  });

  it('with one attempt, the loser gets RetryExhausted carrying the conflict', async () => {
    const { results, retries } = await lockstep({ attempts: 1 });
    assert.deepEqual(retries, []);
    const rejected = results.filter((r) => r.status === 'rejected');
    assert.equal(rejected.length, 1);
    const err = rejected[0].reason;
    assert.ok(err instanceof occ.RetryExhausted);
    assert.equal(err.attempts, 1);
    assert.ok(err.lastError instanceof occ.VersionConflict);
    assert.equal((await counter()).n, 1);
  });

  it('many increments from two clients lose nothing', async () => {
    const perClient = 40;
    await withClients((cs) => Promise.all(cs.map(async (c) => {
      for (let i = 0; i < perClient; i++) {
        await occ.modify(c, 'counters', 1, (cur) => ({ n: cur.n + 1 }),
          { attempts: 50, baseDelayMs: 1, maxDelayMs: 20 });
      }
    })));
    const final = await counter();
    assert.deepEqual([final.n, final.version], [2 * perClient, 2 * perClient + 1]);
  });
});
