#!/usr/bin/env python3
"""Which crates' code a running process keeps resident: the pages of its binary
that /proc/PID/pagemap marks present, attributed to the symbols `nm` lists there,
summed by the first path segment of each name (the crate).

    python3 resident_by_crate.py PID path/to/binary

Used for the memory figures of the notes service in docs/benchmarks.md.
"""
import bisect
import collections
import re
import struct
import subprocess
import sys
pid=int(sys.argv[1]); binary=sys.argv[2]
maps=[]
for l in open(f'/proc/{pid}/maps'):
    p=l.split()
    if len(p)>=6 and p[5]==binary:
        a,b=[int(x,16) for x in p[0].split('-')]; off=int(p[2],16); maps.append((a,b,off,p[1]))
# resident pages of the binary's mappings (file offset -> present)
pm=open(f'/proc/{pid}/pagemap','rb')
present=set()
for a,b,off,perm in maps:
    pm.seek(a//4096*8); data=pm.read((b-a)//4096*8)
    for i in range((b-a)//4096):
        v=struct.unpack_from('<Q',data,i*8)[0]
        if v>>63 & 1: present.add(off+i*4096)
# symbols: file offset of .text = vaddr - (section addr - section offset); use readelf for segments
segs=[]
out=subprocess.run(['readelf','-lW',binary],capture_output=True,text=True).stdout
for l in out.splitlines():
    p=l.split()
    if p and p[0]=='LOAD':
        off=int(p[1],16); vaddr=int(p[2],16); fsz=int(p[4],16); segs.append((vaddr,off,fsz))
def v2off(v):
    for vaddr,off,fsz in segs:
        if vaddr<=v<vaddr+fsz: return v-vaddr+off
    return None
syms=[]
out=subprocess.run(['nm','-C','-S','--defined-only',binary],capture_output=True,text=True).stdout
for l in out.splitlines():
    p=l.split(' ',3)
    if len(p)<4 or p[2] not in 'tTwW': continue
    v=int(p[0],16); size=int(p[1],16); name=p[3]
    o=v2off(v)
    if o is None: continue
    n=name.lstrip('<').lstrip('_<')
    m=re.match(r'([A-Za-z_][A-Za-z0-9_]*)',n); c=m.group(1) if m else '?'
    if c.startswith('sqlite3') : c='sqlite3 (C)'
    syms.append((o,size,c))
syms.sort()
starts=[s[0] for s in syms]
res=collections.Counter(); tot=collections.Counter()
for page in present:
    # attribute page bytes to symbols overlapping
    i=bisect.bisect_right(starts,page)-1
    j=max(i,0)
    while j<len(syms) and syms[j][0]<page+4096:
        o,size,c=syms[j]
        lo=max(o,page); hi=min(o+size,page+4096)
        if hi>lo: res[c]+=hi-lo
        j+=1
for o,size,c in syms: tot[c]+=size
print('resident pages of binary: %.1f MiB; text symbols resident %.1f MiB of %.1f'%(len(present)*4096/2**20, sum(res.values())/2**20, sum(tot.values())/2**20))
for c,v in res.most_common(25): print('%6.0f KiB of %6.0f  %s'%(v/1024,tot[c]/1024,c))
