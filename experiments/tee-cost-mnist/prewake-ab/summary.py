# Per k: median, lower quartile and fastest time of the runs in with-wake-*/ and without-wake-*/, and
# the overhead against k = 0 of the same variant.
import csv, glob, os, statistics as st
HERE = os.path.dirname(os.path.abspath(__file__))
def q1(x): x = sorted(x); return x[len(x) // 4]
for v in ('without-wake', 'with-wake'):
    rows = [r for f in sorted(glob.glob(os.path.join(HERE, f'{v}-*', 'runs.csv'))) for r in csv.DictReader(open(f))]
    by = {}
    for r in rows: by.setdefault(int(r['k']), []).append(r)
    t0 = [float(r['seconds']) for r in by[0]]; c0 = [float(r['cpu_seconds']) for r in by[0]]
    print(f'{v}: {len(rows)} runs')
    for k in sorted(by):
        t = [float(r['seconds']) for r in by[k]]; c = [float(r['cpu_seconds']) for r in by[k]]
        print(f'  k={k} n={len(t):2}  median {st.median(t):.3f} s ({100 * (st.median(t) / st.median(t0) - 1):+5.1f} %)'
              f'  lower quartile {q1(t):.3f} s ({100 * (q1(t) / q1(t0) - 1):+5.1f} %)  fastest {min(t):.3f} s'
              f'  CPU median {st.median(c):.3f} s ({100 * (st.median(c) / st.median(c0) - 1):+5.1f} %)')
