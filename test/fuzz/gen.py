#!/usr/bin/env python3
"""Generates fuzz cases for occ from a fixed seed (Python 3 standard library only).

Prints COPY text for the table fuzz_case (id, fn, tbl, stmt) of harness.sql: each
case is one SELECT calling occ_update, occ_update_if_match, occ_try_update,
occ_update_many, occ_delete, occ_delete_if_match, occ_merge_patch, occ_enable or
occ_disable with generated arguments: values of the wrong JSON type, numbers out of range, bad dates, \\u0000
and broken \\u escapes, deep nesting (up to 100000 levels), huge and wide documents,
NULLs in every place, ids of every type, partial and overfull composite keys, patch
keys that are no column, differ only in case or quoting, or name occ's own columns,
and odd identifiers (quotes, dots, spaces, unicode) for tables and columns.

usage: gen.py [--seed N] [--cases N]   (the same seed always gives the same cases)
"""
import argparse
import random
import sys


class Raw(str):
    """JSON text written out as it is (invalid escapes, numbers Python cannot hold)."""


def jstr(s, rng):
    """A JSON string; non-ASCII characters sometimes escaped, sometimes raw UTF-8."""
    out = ['"']
    raw_ok = rng.random() < 0.5
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == '\\':
            out.append('\\\\')
        elif o < 0x20 or 0xD800 <= o <= 0xDFFF or (o > 0x7E and not raw_ok):
            if o > 0xFFFF:
                o -= 0x10000
                out.append('\\u%04x\\u%04x' % (0xD800 + (o >> 10), 0xDC00 + (o & 0x3FF)))
            else:
                out.append('\\u%04x' % o)
        else:
            out.append(ch)
    out.append('"')
    return ''.join(out)


def dump(v, rng):
    """JSON text of v (None, bool, int, float, str, list, dict, Raw)."""
    if isinstance(v, Raw):
        return str(v)
    if v is None:
        return 'null'
    if v is True:
        return 'true'
    if v is False:
        return 'false'
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        return jstr(v, rng)
    if isinstance(v, list):
        return '[' + ', '.join(dump(x, rng) for x in v) + ']'
    if isinstance(v, dict):
        return '{' + ', '.join(jstr(k, rng) + ': ' + dump(x, rng) for k, x in v.items()) + '}'
    raise TypeError(v)


def lit(s):
    """A standard SQL string literal."""
    return "'" + s.replace("'", "''") + "'"


def clean(s):
    """s without what SQL text cannot hold (NUL) or UTF-8 cannot encode (surrogates)."""
    return ''.join(ch for ch in s if ch != '\x00' and not 0xD800 <= ord(ch) <= 0xDFFF)


def ident(s):
    return '"' + s.replace('"', '""') + '"'


ODD_STRINGS = [
    '', ' ', 'a', 'A', 'ü', 'ß', '日本語', '😀', '\U0010FFFF', '\uFFFF', 'e\u0301',
    '\u202Eevil', 'zero\u200Bwidth', 'tab\there', 'new\nline', 'quote"d', "apo'strophe",
    'back\\slash', 'semi;colon', 'dot.ted', 'sp ace', '\x00', 'nul\x00mid', '\x01\x1f',
    '\ud800', '\udc00', 'lone \ud83d', '%s%n', '$1', '-- comment', '/* c */', 'x' * 300,
    'DROP TABLE fz_int', 'NaN', 'Infinity', '-0', '1e5', '0x1F', 'true', 'null',
]

# Raw JSON text of scalars that need care: out of range, odd escapes.
RAW_SCALARS = [
    '1e1000', '-1e1000', '1e-1000', '1E+2', '-0', '0.0000000000000000000001',
    '9' * 400, '-' + '9' * 400, '123456789012345678901234567890.5', '2147483648',
    '-2147483649', '9223372036854775808', '-9223372036854775809', '32768', '1.5',
    '"\\u0000"', '"a\\u0000b"', '"\\ud800"', '"\\udc00\\ud800"', '"\\ud83d\\ude00"',
    '"\\uD834\\uDD1E"', '"\\u00e9"', '"\\uFFFF"', '"\\/"', '"\\b\\f\\n\\r\\t"',
]

INT_EDGES = [0, 1, -1, 7, 100, 101, 2 ** 15 - 1, 2 ** 15, 2 ** 31 - 1, 2 ** 31, -2 ** 31,
             -2 ** 31 - 1, 2 ** 63 - 1, 2 ** 63, -2 ** 63, 10 ** 30]


class Gen:
    def __init__(self, seed):
        self.rng = random.Random(seed)

    def pick(self, seq):
        return self.rng.choice(seq)

    def chance(self, p):
        return self.rng.random() < p

    # ------------------------------------------------------------ JSON values
    def rand_string(self):
        r = self.rng.random()
        if r < 0.5:
            return self.pick(ODD_STRINGS)
        n = self.rng.randint(0, 12)
        return ''.join(chr(self.pick([self.rng.randint(0x20, 0x7e), self.rng.randint(0xa0, 0x2fff),
                                      self.rng.randint(0x1f300, 0x1f6ff), self.rng.randint(1, 0x1f)]))
                       for _ in range(n))

    def rand_scalar(self):
        r = self.rng.random()
        if r < 0.1:
            return None
        if r < 0.2:
            return self.chance(0.5)
        if r < 0.4:
            return self.pick(INT_EDGES) * self.pick([1, -1])
        if r < 0.5:
            return self.pick([0.5, -2.25, 1e308, 5e-324, 3.14159, 1e16, -0.0])
        if r < 0.6:
            return Raw(self.pick(RAW_SCALARS))
        return self.rand_string()

    def rand_json(self, depth=0):
        r = self.rng.random()
        if depth > 4 or r < 0.55:
            return self.rand_scalar()
        if r < 0.75:
            return [self.rand_json(depth + 1) for _ in range(self.rng.randint(0, 4))]
        return {self.rand_key(): self.rand_json(depth + 1) for _ in range(self.rng.randint(0, 5))}

    def rand_key(self):
        return self.pick(['a', 'b', 'c', 'A', 'a.b', 'a b', '', 'ü', 'x' * 70, 'null', '0',
                          '"', '\\', 'k\x00', self.rand_string()])

    def merge_doc(self, depth=0):
        """Objects with overlapping keys and nulls, so that merges have work to do."""
        if depth > 3 or self.chance(0.3):
            return self.pick([None, None, 1, 'x', [1, None], {}, [], True]) if self.chance(0.7) \
                else self.rand_json(3)
        return {self.pick(['a', 'b', 'c', 'd', 'A', '']): self.merge_doc(depth + 1)
                for _ in range(self.rng.randint(0, 4))}

    # ------------------------------------------------ values for column kinds
    def valid_value(self, kind):
        rng = self.rng
        v = {
            'text': lambda: self.rand_string() if self.chance(0.5) else 'plain',
            'int': lambda: rng.randint(-1000, 1000),
            'smallint': lambda: rng.randint(-300, 300),
            'bigint': lambda: rng.randint(-2 ** 40, 2 ** 40),
            'numeric': lambda: round(rng.uniform(-9999, 9999), 2),
            'float': lambda: rng.uniform(-1e6, 1e6),
            'bool': lambda: rng.choice([True, False, 'true', 'f', 'yes', 'off']),
            'date': lambda: rng.choice(['2020-02-29', '1999-12-31', 'infinity', '-infinity',
                                        'epoch', '4713-01-01 BC', '5874897-12-31']),
            'timestamptz': lambda: rng.choice(['2020-01-01T00:00:00Z', '2020-06-30 12:00+05:30',
                                               'infinity', 'epoch', '1999-01-08 04:05:06 PST']),
            'interval': lambda: rng.choice(['1 day', 'P1Y2M', '-1 hour', '00:00:01.5']),
            'varchar10': lambda: rng.choice(['', 'short', '1234567890', 'ü' * 10]),
            'char3': lambda: rng.choice(['ab', 'abc', 'a  ']),
            'bytea': lambda: rng.choice(['\\x00ff', 'abc', '\\001']),
            'jsonb': lambda: self.merge_doc(),
            'json': lambda: self.merge_doc(),
            'intarr': lambda: rng.choice([[1, 2, 3], [], [[1, 2], [3, 4]], '{1,2}', [None, 1]]),
            'textarr': lambda: rng.choice([['a', 'b'], [], ['ü', None], '{"x y",z}']),
            'uuid': lambda: rng.choice(['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
                                        'A0EEBC999C0B4EF8BB6D6BB9BD380A11',
                                        '{a0eebc99-9c0b4ef8-bb6d6bb9-bd380a11}']),
            'inet': lambda: rng.choice(['127.0.0.1', '::1', '10.0.0.0/8', '2001:db8::/32']),
            'enum': lambda: rng.choice(['sad', 'ok', 'happy']),
            'pair': lambda: rng.choice([{'x': 1, 'y': 'a'}, {'x': None}, {}, '(1,a)']),
            'posint': lambda: rng.randint(1, 100),
            'kdoc': lambda: rng.choice([{'kind': 'a'}, {'kind': None}, {'other': 1}, None]),
            'req': lambda: rng.choice(['x', '']),
            'chk': lambda: rng.randint(0, 100),
            'uq': lambda: 'u%d' % rng.randint(1, 8),
            'ref': lambda: rng.randint(1, 3),
            'idd': lambda: rng.randint(1, 10),
        }[kind]
        return v()

    def bad_value(self, kind):
        """Values of the wrong JSON type or out of the column type's range."""
        rng = self.rng
        by_kind = {
            'int': ['abc', 1.5, Raw('2147483648'), Raw('1e1000'), True, [1], {'a': 1}, '', ' 1 '],
            'smallint': [Raw('32768'), -40000, '1e2'],
            'bigint': [Raw('9223372036854775808'), Raw('-9223372036854775809'), 1e19],
            'numeric': [Raw('1e1000'), 12345.678, 'NaN', Raw('99999.999'), 'Infinity', '1e-1000'],
            'float': [Raw('1e400'), Raw('-1e400'), Raw('1e-400'), 'NaN', '-Infinity', 'x'],
            'bool': ['maybe', 2, [], ''],
            'date': ['2020-13-01', '2021-02-29', 'yesterday', '0000-01-01', '10000000-01-01',
                     '2020-01-01 25:00', 'not a date', '', 123],
            'timestamptz': ['2020-01-01 24:00:01', '2020-01-01 00:00+99:00', 'now!', '294277-01-01',
                            '2020-01-01 00:00 Mars/Olympus'],
            'interval': ['1 fortnight', 'P1Q', '178000000 years'],
            'varchar10': ['12345678901', 'ü' * 11, 'x' * 1000],
            'char3': ['abcd', 'abc '],
            'bytea': ['\\xzz', '\\x0', '\\777'],
            'intarr': [[1, 'a'], [[1], [2, 3]], [[[[[[[[1]]]]]]]], {'a': 1}, 'not an array',
                       [2 ** 31], '{1,2', [None, [1]]],
            'textarr': [[[1], 'a'], {'x': 1}, '{a,{b}}'],
            'uuid': ['not-a-uuid', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1', 42],
            'inet': ['999.0.0.1', 'host', '1.2.3.4/33'],
            'enum': ['SAD', '', 'angry', 1],
            'pair': [{'x': 'a'}, {'z': 1}, [1, 'a'], '(a,b', {'x': Raw('1e1000')}],
            'posint': [0, -5, Raw('2147483648')],
            'kdoc': [{'no': 'kind'}, [1], 'kind', 1],
            'req': [None],
            'chk': [-1, 101, 1000],
            'uq': ['u1', 'u2'],
            'ref': [4, 0, -1],
        }
        choices = by_kind.get(kind, []) + [None, self.rand_json()]
        return rng.choice(choices)

    # -------------------------------------------------------------- arguments
    def jsonb_arg(self, value, cast='jsonb'):
        """A SQL expression of type jsonb (or json) for the JSON value."""
        r = self.rng.random()
        text = dump(value, self.rng)
        if r < 0.85:
            return lit(text) + '::' + cast
        if r < 0.93:
            return lit(text) + '::json::jsonb' if cast == 'jsonb' else lit(text) + '::json'
        return '(' + lit(text) + '::text)::' + cast

    def deep_or_huge(self, target_col=None):
        """SQL expressions for deep, wide and huge documents, built in the server."""
        n = self.pick([64, 100, 1000, 5000, 10000, 10000, 100000])
        w = self.pick([1000, 10000, 100000])
        exprs = [
            "(repeat('{\"a\": ', %d) || '1' || repeat('}', %d))::jsonb" % (n, n),
            "(repeat('{\"a\": ', %d) || 'null' || repeat('}', %d))::jsonb" % (n, n),
            "(repeat('[', %d) || repeat(']', %d))::jsonb" % (n, n),
            "(repeat('{\"a\": [', %d) || repeat(']}', %d))::jsonb" % (n // 2, n // 2),
            "(SELECT jsonb_object_agg('k' || i, i) FROM generate_series(1, %d) i)" % w,
            "(SELECT jsonb_object_agg('k' || i, NULL::int) FROM generate_series(1, %d) i)" % w,
            "(SELECT jsonb_agg(i) FROM generate_series(1, %d) i)" % w,
            "jsonb_build_object('k', repeat('x', %d))" % self.pick([10000, 1000000, 3000000]),
            "('{\"n\": ' || repeat('9', %d) || '}')::jsonb" % self.pick([100, 1000, 131072]),
        ]
        if target_col:
            inner = self.pick(exprs[:4] + exprs[4:6] + exprs[7:8])
            return "jsonb_build_object(%s, %s)" % (lit(target_col), inner)
        return self.pick(exprs)

    def nullish(self, typ):
        return self.pick(['NULL', 'NULL::' + typ])


# ------------------------------------------------------------------ the tables
FZ_INT_COLS = {
    'title': 'text', 'n': 'int', 'small': 'smallint', 'big': 'bigint', 'num': 'numeric',
    'f8': 'float', 'flag': 'bool', 'd': 'date', 'ts': 'timestamptz', 'iv': 'interval',
    'vc': 'varchar10', 'ch': 'char3', 'bin': 'bytea', 'doc': 'jsonb', 'js': 'json',
    'arr': 'intarr', 'tags': 'textarr', 'u': 'uuid', 'ip': 'inet', 'mood': 'enum',
    'pair': 'pair', 'pos': 'posint', 'kdoc': 'kdoc', 'req': 'req', 'chk': 'chk', 'uq': 'uq',
    'ref': 'ref', 'idd': 'idd',
}
ODD_TABLE = '"Odd ""Schema"".x"."we ird.Tbl ü"'

# name -> (SQL name, key columns [(name, kind)], rows [key tuples], patchable
#          columns {name: kind}, forbidden patch keys, version column, etag column)
TABLES = {
    'fz_int': ('fz_int', [('id', 'int')], [(1,), (2,), (3,), (4,), (5,), (6,)],
               FZ_INT_COLS, ['id', 'version', 'etag', 'gen', 'ida'], 'version', 'etag'),
    'fz_text': ('fz_text', [('id', 'text')], [('a',), ('b c',), ('ü',), ('"q"',), ('',), ('zz',)],
                {'title': 'text', 'doc': 'jsonb'}, ['id', 'version', 'etag'], 'version', 'etag'),
    'fz_uuid': ('fz_uuid', [('id', 'uuid')],
                [('00000000-0000-0000-0000-000000000001',), ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',),
                 ('ffffffff-ffff-ffff-ffff-ffffffffffff',)],
                {'title': 'text'}, ['id', 'version', 'etag'], 'version', 'etag'),
    'fz_comp': ('fz_comp', [('a', 'int'), ('b', 'text'), ('c', 'date')],
                [(1, 'x', '2020-01-01'), (2, 'y z', '1999-12-31'), (3, 'q', '2000-01-01')],
                {'title': 'text'}, ['a', 'b', 'c', 'version', 'etag'], 'version', 'etag'),
    'fz_ver4': ('fz_ver4', [('id', 'int')], [(1,), (2,)], {'title': 'text'},
                ['id', 'version', 'etag'], 'version', 'etag'),
    'fz_next': ('fz_next', [('id', 'bigint')], [(1,), (2,)], {'title': 'text', 'n': 'int'},
                ['id', 'version', 'etag'], 'version', 'etag'),
    'fz_expected': ('fz_expected', [('id', 'bigint')], [(1,), (2,)], {'title': 'text', 'n': 'int'},
                    ['id', 'version', 'etag'], 'version', 'etag'),
    'fz_field': ('fz_field', [('id', 'int')], [(1,), (2,), (3,)],
                 {'title': 'text', 'n': 'int', 'doc': 'jsonb', 'js': 'json'},
                 ['id', 'version', 'etag', 'field_versions'], 'version', 'etag'),
    'fz_part': ('fz_part', [('id', 'int'), ('region', 'text')], [(1, 'eu'), (2, 'us'), (1, 'us')],
                {'title': 'text'}, ['id', 'region', 'version', 'etag'], 'version', 'etag'),
    'odd': (ODD_TABLE, [('Key "K"', 'text')], [('k1',), ('k "2"',), ('K1',)],
            {'A': 'int', 'a': 'int', 'a"b': 'text', 'a.b': 'text', 'ü ñ': 'text', 'occ_t': 'int',
             'occ_p': 'int', 'select': 'text', '$1': 'text', 'version': 'text'},
            ['Key "K"', 'Ver "sion"', 'e.tag ü'], 'Ver "sion"', 'e.tag ü'),
}

# patch keys that are no column (or only nearly one)
NOT_COLUMNS = ['', 'ctid', 'xmin', 'tableoid', 'oid', 'Title', 'title ', '"title"', 'TITLE',
               'a""b', '"a""b"', 'a_b', 'ü', 'u\u0308', 'x' * 63, 'x' * 64, 'x' * 200,
               '........pg.dropped.33........', 'occ_t.title', 'title; DROP TABLE fz_int',
               'id"; --', 'Version', 'ETAG', '\x00']

ENABLE_TABLES = [
    "'fz_en_nopk'", "'fz_en_pk'", "'fz_en_small'", "'fz_en_num'", "'fz_en_int'",
    "'fz_en_comp'", "'fz_en_part'", "'fz_en_part_1'", "'fz_en_view'", "'fz_en_mv'",
    "'fz_en_seq'", "'fz_en_pk_pkey'", "'\"fz_en odd \"\"name\"\".ü\"'", "'fz_ref'",
    "'fz_int'", "'fz_comp'", "'fz_part_eu'", "'fz_ver4'", "'pg_class'", "'occ_secret'",
    "'fz_mood'", "0::oid::regclass", "4294967295::oid::regclass", "'occ_tables'",
    "'public.fz_en_pk'", "'\"fz_en_pk\"'", "'FZ_EN_PK'", "'nonexistent'", "NULL::regclass",
    "'fz_en_pk'::text::regclass", "'pg_catalog.pg_type'",
]
ENABLE_NAMES = ["'version'", "'etag'", "'Ver \"s\" ü'", "'ver sion'", "''", "'t'", "'id'",
                "'a'", "'x" + "y" * 80 + "'", "'e.tag'", "'version'::name", "'ctid'",
                "'xmin'", "'Ver \"s\" ü'::name", "'version\"; DROP TABLE fz_int; --'",
                "'etag' || ''", "'😀'", "'rev'", "NULL", "NULL::name"]
GRANULARITIES = ["'row'", "'row'", "'field'", "'ROW'", "''", "'row '", "'rows'", "NULL",
                 "'r" + "o" * 1000 + "w'"]
VERSION_INPUTS = ["'ignore'", "'ignore'", "'expected'", "'next'", "'NEXT'", "''", "NULL",
                  "'ignore\u0001'"]


class Cases(Gen):
    def where(self, t, key):
        sqlname, keys = TABLES[t][0], TABLES[t][1]
        conds = []
        for (name, kind), val in zip(keys, key):
            conds.append('%s = %s::%s' % (ident(name), lit(str(val)), kind))
        return sqlname, ' AND '.join(conds)

    def id_arg(self, t, key):
        keys = TABLES[t][1]
        if len(keys) > 1:
            return self.composite_id(keys, key)
        (name, kind), val = keys[0], key[0]
        s = str(val)
        r = self.rng.random()
        if r < 0.5:
            return self.pick([lit(s) + '::' + kind, lit(s)] + ([s] if kind in ('int', 'bigint') else []))
        if r < 0.65:
            return self.pick([
                lit(dump({name: val}, self.rng)) + '::jsonb',
                lit(dump({name: val}, self.rng)) + '::json',
                lit(dump(val, self.rng)) + '::jsonb',
                lit(dump(s, self.rng)) + '::jsonb',
                lit(s) + '::text', lit(s) + '::varchar', lit(s) + '::name', lit(s) + '::bpchar',
            ] + ([s + '::smallint', s + '::numeric', s + '.0::float8', s + '::oid',
                  s + '::bigint', s + '::int'] if kind in ('int', 'bigint') else []))
        if r < 0.7:
            return self.nullish(self.pick(['int', 'text', 'jsonb', 'uuid']))
        return self.pick([
            lit(dump({name: None}, self.rng)) + '::jsonb', lit(dump({}, self.rng)) + '::jsonb',
            lit(dump({name: val, 'x': 1}, self.rng)) + '::jsonb',
            lit(dump({name: [val]}, self.rng)) + '::jsonb',
            lit(dump({name: {'v': val}}, self.rng)) + '::jsonb',
            lit(dump([val], self.rng)) + '::jsonb', "'null'::jsonb", "'[]'::jsonb",
            lit(dump({name.upper(): val}, self.rng)) + '::jsonb',
            '1.5', "'1.5'", '2147483648', "'99999999999999999999'", "'abc'", "' 1 '",
            'ARRAY[1]', 'ROW(1, 2)', 'true', "'1'::bytea", "'1'::\"char\"", "now()",
            "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid", "'{}'::int[]", "'(1)'::text",
            lit(clean(self.rand_string())), "'\\u0000'", "'{\"id\": \"\\u0000\"}'::json",
            "'\"\\ud800\"'::json", "'{\"id\": 1e1000}'::jsonb", "'{\"id\": -0}'::jsonb",
            lit(dump({name: Raw(self.pick(RAW_SCALARS))}, self.rng)) + '::jsonb',
        ])

    def composite_id(self, keys, key):
        obj = {n: v for (n, _), v in zip(keys, key)}
        r = self.rng.random()
        if r < 0.5:
            text = dump(obj, self.rng)
            return self.pick([lit(text) + '::jsonb', lit(text) + '::json', lit(text),
                              lit(text) + '::text'])
        if r < 0.6:
            return 'jsonb_build_object(%s)' % ', '.join(
                '%s, %s' % (lit(n), lit(str(v))) for n, v in obj.items())
        mutated = dict(obj)
        m = self.rng.randint(0, 7)
        if m == 0 and mutated:
            del mutated[self.pick(list(mutated))]          # partial key
        elif m == 1:
            mutated['extra'] = 1                             # one too many
        elif m == 2:
            mutated[self.pick(list(mutated))] = None         # NULL in the key
        elif m == 3:
            mutated[self.pick(list(mutated))] = self.rand_json()
        elif m == 4:
            k = self.pick(list(mutated))
            mutated[k.upper() + ' '] = mutated.pop(k)        # a near miss of a name
        elif m == 5:
            return self.pick(['1', "'x'", "'[1, \"x\", \"2020-01-01\"]'::jsonb", "'{}'::jsonb",
                              "'null'::jsonb", 'NULL::jsonb', "'(1,x,2020-01-01)'",
                              "'{\"a\": 1, \"a\": 2}'::jsonb", "ROW(1, 'x')"])
        elif m == 6:
            mutated = {k: Raw(self.pick(RAW_SCALARS)) for k in mutated}
        return lit(dump(mutated, self.rng)) + '::jsonb'

    def version_arg(self, t, key):
        sqlname, where = self.where(t, key)
        ver = ident(TABLES[t][5])
        # a row that does not exist gets version 1, so that the call meets OC404
        cur = 'coalesce((SELECT %s FROM %s WHERE %s), 1)' % (ver, sqlname, where)
        r = self.rng.random()
        if r < 0.6:
            return cur
        if r < 0.75:
            return '%s %s 1' % (cur, self.pick(['+', '-']))
        if r < 0.8:
            return self.nullish('bigint')
        return self.pick([str(x) for x in INT_EDGES if -2 ** 63 <= x < 2 ** 63] +
                         ["'1'", "1::smallint", "'9223372036854775807'"])

    def etag_arg(self, t, key):
        sqlname, where = self.where(t, key)
        cur = "coalesce((SELECT %s FROM %s WHERE %s), 'gone')" % (ident(TABLES[t][6]), sqlname, where)
        r = self.rng.random()
        if r < 0.35:
            return cur
        if r < 0.5:
            return "'\"' || %s || '\"'" % cur
        if r < 0.6:
            return "%s || ', ' || %s" % (self.pick(["'W/\"x\"'", "'\"nope\"'", "'*x'", "' , '"]), cur)
        if r < 0.7:
            return "'W/\"' || %s || '\"'" % cur
        if r < 0.8:
            return self.nullish('text')
        return self.pick(["'*'", "' * '", "'\"*\"'", "''", "','", "'\"'", "'\"\"'", "'W/'",
                          "'W/\"\"'", "repeat(',', 100000)", "repeat('\"x\",', 10000)",
                          "repeat('a', 1000000)", "'ü😀'", "'\"a\",\"b\",*'", "'\t'",
                          lit(clean(self.rand_string()))])

    def patch_arg(self, t):
        cols, forbidden = TABLES[t][3], TABLES[t][4]
        r = self.rng.random()
        if r < 0.02:
            return self.nullish('jsonb')
        if r < 0.08:
            return self.jsonb_arg(self.pick([[], [1], 'str', 1, None, True, Raw('"\\u0000"')]))
        if r < 0.11:
            return self.jsonb_arg({})
        if r < 0.16:
            col = self.pick([c for c, k in cols.items() if k in ('jsonb', 'json', 'text')] or ['title'])
            return self.deep_or_huge(col)
        if r < 0.18:
            return self.deep_or_huge()
        patch = {}
        for _ in range(self.rng.randint(1, 4)):
            x = self.rng.random()
            if x < 0.85:
                col = self.pick(list(cols))
                kind = cols[col]
                patch[col] = self.valid_value(kind) if self.chance(0.75) else self.bad_value(kind)
            elif x < 0.92:
                patch[self.pick(forbidden)] = self.rand_scalar()
            else:
                patch[self.pick(NOT_COLUMNS)] = self.rand_scalar()
        return self.jsonb_arg(patch)

    # ------------------------------------------------------------- the cases
    def case(self):
        r = self.rng.random()
        if r < 0.30:
            return self.update_case(if_match=False)
        if r < 0.45:
            return self.update_case(if_match=True)
        if r < 0.52:
            return self.update_case(if_match=False, fn='occ_try_update')
        if r < 0.60:
            return self.many_case()
        if r < 0.64:
            return self.delete_case()
        if r < 0.85:
            return self.merge_case()
        return self.enable_case()

    def pick_row(self):
        t = self.pick(list(TABLES))
        return t, self.pick(TABLES[t][2])

    def tbl_arg(self, t):
        sqlname = TABLES[t][0]
        if self.chance(0.9):
            return lit(sqlname)
        return self.pick([lit(sqlname) + '::regclass', 'NULL', 'NULL::regclass', "'fz_en_pk'",
                          "'fz_en_view'", "'fz_ref'", "0::oid::regclass", "'fz_part_eu'",
                          "'fz_en_seq'", "'pg_class'", "'occ_secret'"])

    def update_case(self, if_match, fn=None):
        t, key = self.pick_row()
        fn = fn or ('occ_update_if_match' if if_match else 'occ_update')
        cond = self.etag_arg(t, key) if if_match else self.version_arg(t, key)
        stmt = 'SELECT %s(%s, %s, %s, %s)' % (fn, self.tbl_arg(t), self.id_arg(t, key), cond,
                                              self.patch_arg(t))
        return fn, TABLES[t][0], stmt

    def many_case(self):
        """occ_update_many: an array of {"id", "version", "patch"} built in SQL."""
        t = self.pick(list(TABLES))
        keys = TABLES[t][1]
        items = []
        for _ in range(self.pick([0, 1, 2, 3, 5])):
            key = self.pick(TABLES[t][2])
            r = self.rng.random()
            if len(keys) > 1 or r < 0.3:
                idv = 'jsonb_build_object(%s)' % ', '.join(
                    '%s, %s::%s' % (lit(n), lit(str(v)), k) for (n, k), v in zip(keys, key))
            else:
                idv = 'to_jsonb(%s::%s)' % (lit(str(key[0])), keys[0][1])
            if self.chance(0.1):
                idv = self.pick(["'null'::jsonb", "'[1]'::jsonb", "'{}'::jsonb", "'1e1000'::jsonb",
                                 "'\"x\"'::jsonb", "'{\"id\": 1, \"x\": 2}'::jsonb", 'NULL::jsonb'])
            ver = self.version_arg(t, key)
            if self.chance(0.1):
                ver = self.pick(["'1.5'::numeric", "'1e30'::numeric", "'\"1\"'::jsonb", "'null'::jsonb",
                                 "'-1'::numeric", "'NaN'::numeric"])
            item = "jsonb_build_object('id', %s, 'version', %s, 'patch', %s)" % (
                idv, ver, self.patch_arg(t))
            if self.chance(0.05):
                item = self.pick(["'1'::jsonb", "'[]'::jsonb", "'{}'::jsonb",
                                  "jsonb_build_object('id', 1, 'version', 1)", "'null'::jsonb"])
            items.append(item)
        if self.chance(0.05):
            arr = self.pick(["'{}'::jsonb", "'1'::jsonb", 'NULL::jsonb', "'null'::jsonb",
                             "(SELECT jsonb_agg(jsonb_build_object('id', i, 'version', 1, 'patch', '{}'::jsonb)) "
                             "FROM generate_series(1, 20000) i)"])
        else:
            arr = 'jsonb_build_array(%s)' % ', '.join(items)
        return ('occ_update_many', TABLES[t][0],
                'SELECT jsonb_agg(r) FROM occ_update_many(%s, %s) r' % (self.tbl_arg(t), arr))

    def delete_case(self):
        t, key = self.pick_row()
        if self.chance(0.5):
            fn, cond = 'occ_delete', self.version_arg(t, key)
        else:
            fn, cond = 'occ_delete_if_match', self.etag_arg(t, key)
        return fn, TABLES[t][0], 'SELECT %s(%s, %s, %s)' % (fn, self.tbl_arg(t), self.id_arg(t, key), cond)

    def merge_case(self):
        def arg():
            r = self.rng.random()
            if r < 0.08:
                return self.nullish('jsonb')
            if r < 0.16:
                return self.deep_or_huge()
            if r < 0.55:
                return self.jsonb_arg(self.merge_doc())
            return self.jsonb_arg(self.rand_json())
        return 'occ_merge_patch', None, 'SELECT occ_merge_patch(%s, %s)' % (arg(), arg())

    def enable_case(self):
        if self.chance(0.1):
            return 'occ_disable', None, 'SELECT occ_disable(%s)' % self.pick(ENABLE_TABLES)
        args = [self.pick(ENABLE_TABLES)]
        named = self.chance(0.3)
        for name, pool in (('version_column', ENABLE_NAMES), ('etag_column', ENABLE_NAMES),
                           ('granularity', GRANULARITIES), ('version_input', VERSION_INPUTS)):
            if self.chance(0.5):
                v = pool[0] if name != 'etag_column' else "'etag'"
                if self.chance(0.6):
                    v = self.pick(pool)
                args.append('%s => %s' % (name, v) if named else v)
            elif not named:
                break
        return 'occ_enable', None, 'SELECT occ_enable(%s)' % ', '.join(args)


def copy_escape(s):
    return (s.replace('\\', '\\\\').replace('\t', '\\t').replace('\n', '\\n')
            .replace('\r', '\\r'))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--cases', type=int, default=3000)
    a = ap.parse_args()
    g = Cases(a.seed)
    out = sys.stdout
    for i in range(1, a.cases + 1):
        fn, tbl, stmt = g.case()
        stmt = stmt.replace('\x00', '\\000')   # SQL text cannot hold NUL; E'' cannot either
        out.write('%d\t%s\t%s\t%s\n' % (i, fn, copy_escape(tbl) if tbl else '\\N',
                                        copy_escape(stmt)))


if __name__ == '__main__':
    main()
