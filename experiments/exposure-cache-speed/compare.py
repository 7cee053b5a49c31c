# Per-job seconds of the two run folders r-off (--cache-mem 0) and r-on (--cache-mem 2GiB) under ROOT (argv[1], default .).
import json, glob, os, sys
ROOT = sys.argv[1] if len(sys.argv) > 1 else '.'
def load(d):
    r = {}
    for f in glob.glob(os.path.join(ROOT, d, 'jobs', '*.json')):
        j = json.load(open(f)); r[j['id']] = j
    return r
a, b = load('r-off'), load('r-on')
lab = {0:'conv1',1:'conv2',3:'conv3',4:'conv4',6:'conv5',7:'conv6',9:'fc1',11:'fc2'}
ta = tb = 0
for l in [0,1,3,4,6,7,9,11]:
    for k in ['mr','mp']:
        i = f's1-l{l}-{k}'
        if i in a and i in b:
            same = a[i]['scores'] == b[i]['scores']
            c = b[i].get('cache')
            print(f"{lab[l]:6} {k}  off {a[i]['seconds']:7.1f}  on {b[i]['seconds']:7.1f}  x{a[i]['seconds']/b[i]['seconds']:5.2f}  cache after {c['after'] if c else '-'}  same scores {same}")
            ta += a[i]['seconds']; tb += b[i]['seconds']
print(f'layer jobs: off {ta:.0f} s, on {tb:.0f} s, x{ta/max(tb,1e-9):.2f}')
print()
print('per job: training s/epoch (from the job files) and the rest (loading, cache, scoring); projection to E_ft = 20')
po = pn = 0
for l in [0,1,3,4,6,7,9,11]:
    for k in ['mr','mp']:
        i = f's1-l{l}-{k}'
        if i in a and i in b:
            ea = sum(e['seconds'] for e in a[i]['epochs']) / len(a[i]['epochs'])
            eb = sum(e['seconds'] for e in b[i]['epochs']) / len(b[i]['epochs'])
            ra = a[i]['seconds'] - ea * len(a[i]['epochs'])
            rb = b[i]['seconds'] - eb * len(b[i]['epochs'])
            po += ra + 20 * ea; pn += rb + 20 * eb
            print(f"{lab[l]:6} {k}  epoch off {ea:6.1f} on {eb:6.1f} (x{ea/eb:5.2f})  rest off {ra:5.1f} on {rb:5.1f}")
print(f'projected layer jobs at E_ft = 20: off {po:.0f} s, on {pn:.0f} s, x{po/max(pn,1e-9):.2f}')
