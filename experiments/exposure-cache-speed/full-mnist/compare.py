# Per-job seconds of the two run folders off/ (--cache-mem 0) and on/ (--cache-mem 4GiB) beside this
# script, whether their scores are equal bit for bit, and (with a third argument) whether they equal
# another run folder's jobs of the same seed, e.g. ../../paper-figure2/mnist.
import json, glob, os, sys
HERE = os.path.dirname(os.path.abspath(__file__))
def load(d):
    return {j['id']: j for j in (json.load(open(f)) for f in glob.glob(os.path.join(d, 'jobs', 's1-*.json')))}
off, on = load(os.path.join(HERE, 'off')), load(os.path.join(HERE, 'on'))
ref = load(sys.argv[1]) if len(sys.argv) > 1 else None
names = {0: 'conv1', 1: 'conv2', 3: 'conv3', 4: 'conv4', 6: 'conv5', 7: 'conv6', 9: 'fc1', 11: 'fc2'}
print('job        off s    on s  speed-up  off s/epoch  on s/epoch  cache after  off = on' + ('  = ref' if ref else ''))
toff = ton = 0.0
for l, name in names.items():
    for k in ('mr', 'mp'):
        i = f's1-l{l}-{k}'
        a, b = off[i], on[i]
        ea = sum(e['seconds'] for e in a['epochs']) / len(a['epochs'])
        eb = sum(e['seconds'] for e in b['epochs']) / len(b['epochs'])
        c = b.get('cache')
        same = a['scores'] == b['scores']
        line = f"{name:6} {k}  {a['seconds']:6.1f}  {b['seconds']:6.1f}  x{a['seconds'] / b['seconds']:6.2f}  {ea:11.2f}  {eb:10.2f}  {str(c['after']) if c else '-':>11}  {str(same):>8}"
        if ref:
            line += f"  {str(ref[i]['scores'] == a['scores'] == b['scores']):>6}"
        print(line)
        toff += a['seconds']; ton += b['seconds']
print(f'16 layer jobs: off {toff:.0f} s, on {ton:.0f} s, speed-up x{toff / ton:.2f}')
e1, e2 = json.load(open(os.path.join(HERE, 'off', 'exposure.json'))), json.load(open(os.path.join(HERE, 'on', 'exposure.json')))
def strip(e):  # the results without the times
    drop = lambda v: {k: drop(x) for k, x in v.items() if k != 'seconds'} if isinstance(v, dict) else [drop(x) for x in v] if isinstance(v, list) else v
    return json.dumps(drop({k: v for k, v in e.items() if k in ('base', 'layers', 'statistics')}), sort_keys=True)
print('exposure.json results equal:', strip(e1) == strip(e2))
