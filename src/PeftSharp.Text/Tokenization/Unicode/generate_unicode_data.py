#!/usr/bin/env python3
"""Writes UnicodeData.bin: the Unicode tables PeftSharp.Text needs for normalization and lowercasing.

.NET's string.Normalize does nothing when InvariantGlobalization is on, so the tokenizer carries its
own tables. Run with any Python 3; the Unicode version is Python's `unicodedata.unidata_version`.

Layout (little-endian int32 throughout):
  magic 'PSUD', unicode version (major*10000 + minor*100 + micro)
  section CCC:        count, then (code point, combining class) pairs
  section CANONICAL:  count, then per entry: code point, length, code points (full canonical decomposition)
  section COMPAT:     same layout (full compatibility decomposition, only where it differs from canonical)
  section COMPOSE:    count, then (first, second, composite) triples (primary composites only)
  section LOWER:      count, then per entry: code point, length, code points (full lowercase mapping)
  section UNSAFE x4:  for NFC, NFD, NFKC, NFKD: count, then code points that may change under that form
Hangul syllables are handled algorithmically and are not listed.
"""
import struct
import sys
import unicodedata as ud

def is_hangul_syllable(cp):
    return 0xAC00 <= cp <= 0xD7A3

out = bytearray()
def w(*vals):
    for v in vals:
        out.extend(struct.pack('<i', v))

major, minor, micro = (int(x) for x in ud.unidata_version.split('.'))
out.extend(b'PSUD')
w(major * 10000 + minor * 100 + micro)

cps = [cp for cp in range(0x110000) if not (0xD800 <= cp <= 0xDFFF)]
ccc = [(cp, ud.combining(chr(cp))) for cp in cps if ud.combining(chr(cp))]
w(len(ccc))
for cp, c in ccc:
    w(cp, c)

def decomp_section(form):
    entries = []
    for cp in cps:
        if is_hangul_syllable(cp):
            continue
        d = ud.normalize(form, chr(cp))
        if d != chr(cp):
            entries.append((cp, [ord(x) for x in d]))
    return entries

canon = decomp_section('NFD')
canon_map = dict(canon)
compat = [(cp, d) for cp, d in decomp_section('NFKD') if canon_map.get(cp) != d]
for section in (canon, compat):
    w(len(section))
    for cp, d in section:
        w(cp, len(d), *d)

compose = []
for cp in cps:
    if is_hangul_syllable(cp):
        continue
    d = ud.decomposition(chr(cp))
    if not d or d.startswith('<'):
        continue
    parts = [int(x, 16) for x in d.split()]
    if len(parts) != 2:
        continue
    if ud.normalize('NFC', chr(parts[0]) + chr(parts[1])) == chr(cp):
        compose.append((parts[0], parts[1], cp))
w(len(compose))
for a, b, c in compose:
    w(a, b, c)

lower = []
for cp in cps:
    l = chr(cp).lower()
    if l != chr(cp):
        lower.append((cp, [ord(x) for x in l]))
w(len(lower))
for cp, l in lower:
    w(cp, len(l), *l)

seconds = {b for _, b, _ in compose} | set(range(0x1161, 0x1176)) | set(range(0x11A8, 0x11C3))
for form in ('NFC', 'NFD', 'NFKC', 'NFKD'):
    unsafe = []
    for cp in cps:
        ch = chr(cp)
        if ud.normalize(form, ch) != ch or ud.combining(ch) or (form in ('NFC', 'NFKC') and cp in seconds):
            unsafe.append(cp)
    w(len(unsafe))
    w(*unsafe)

with open(sys.argv[1] if len(sys.argv) > 1 else 'UnicodeData.bin', 'wb') as f:
    f.write(out)
print(f'{len(out)} bytes, unicode {ud.unidata_version}: ccc {len(ccc)}, canonical {len(canon)}, compat {len(compat)}, compose {len(compose)}, lower {len(lower)}')
