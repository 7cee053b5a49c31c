# Per k: median and lower quartile of the run times and, per batch, the normal world's waits on the TA,
# the TA's command handlers and the time added over k = 0 (from runs.csv and runs.jsonl of the folders given).
import csv, statistics as st, json, sys, glob
def q1(x): x=sorted(x); return x[len(x)//4]
dirs=sys.argv[1:]
rows=[r for d in dirs for r in csv.DictReader(open(d+'/runs.csv'))]
by={}
for r in rows: by.setdefault(int(r['k']),[]).append(r)
t0=[float(r['seconds']) for r in by[0]]
prof={}
for d in dirs:
  for l in open(d+'/runs.jsonl'):
    j=json.loads(l); prof.setdefault(j['k'],[]).append(j.get('profile'))
for k in sorted(by):
    t=[float(r['seconds']) for r in by[k]]
    p=prof.get(k) or [None]
    w=st.median([x['wait_ms'] for x in p]) /40 if p[0] else 0
    h=st.median([x['ta_handler_ms'] for x in p])/40 if p[0] else 0
    print(f'k={k} median {st.median(t):.3f} ({100*(st.median(t)/st.median(t0)-1):+5.1f} %) q1 {q1(t):.3f} ({100*(q1(t)/q1(t0)-1):+5.1f} %)  per batch {1000*st.median(t)/40:5.1f} ms, waits {w:5.2f} ms, TA handlers {h:5.2f} ms, extra over k=0 {1000*(st.median(t)-st.median(t0))/40:5.2f} ms')
