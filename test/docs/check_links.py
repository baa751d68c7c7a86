#!/usr/bin/env python3
"""Checks every [text](target) in the repository's Markdown files: relative
files exist, and #anchors match a heading of the target file (GitHub's slug rule)."""
import os, re, sys

root = sys.argv[1] if len(sys.argv) > 1 else '.'
files = sorted(os.path.relpath(os.path.join(d, f), root)
               for d, dirs, names in os.walk(root)
               if not any(p in ('.git', 'node_modules', 'tmp_check', 'results') for p in d.split(os.sep))
               for f in names if f.endswith('.md'))

def slug(h):
    h = re.sub(r'`', '', h.strip().lower())
    h = re.sub(r'\[([^\]]*)\]\([^)]*\)', r'\1', h)
    h = re.sub(r'[^\w\- ]', '', h)
    return h.replace(' ', '-')

def anchors(path):
    out, seen, fence = set(), {}, False
    for line in open(path, encoding='utf-8'):
        if line.lstrip().startswith('```'):
            fence = not fence
            continue
        m = not fence and re.match(r'(#{1,6})\s+(.*)', line)
        if m:
            s = slug(m.group(2))
            n = seen.get(s, 0)
            seen[s] = n + 1
            out.add(s if n == 0 else f'{s}-{n}')
    return out

bad = checked = 0
for f in files:
    path = os.path.join(root, f)
    text = open(path, encoding='utf-8').read()
    text = re.sub(r'```.*?```', '', text, flags=re.S)      # no links in code
    for m in re.finditer(r'\]\(([^)\s]+)\)', text):
        t = m.group(1)
        if re.match(r'[a-z]+:', t):
            continue
        checked += 1
        target, _, frag = t.partition('#')
        tpath = os.path.normpath(os.path.join(os.path.dirname(path), target)) if target else path
        if not os.path.exists(tpath):
            print(f'{f}: {t}: no such file'); bad += 1; continue
        if frag and tpath.endswith('.md') and frag not in anchors(tpath):
            print(f'{f}: {t}: no such anchor'); bad += 1
print(f'{checked} links in {len(files)} files, {bad} broken')
sys.exit(1 if bad else 0)
