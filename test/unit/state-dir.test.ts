// The state directory checked at start: missing or damaged state is a
// one-line refusal naming the file, --recover-state sets it aside and says so.
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MANIFEST, prepareStateDir, writeManifest } from '../../src/control/state-dir.js';
import { EndpointsFile, StateFile } from '../../src/control/state-file.js';
import { EmbeddedStore } from '../../src/control/store/embedded.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const EMBEDDED = { embeddedStore: true, recover: false };
const RECOVER = { embeddedStore: true, recover: true };

/** A state directory as a daemon leaves it: both files, a store with one key, the manifest. */
async function started(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'weft-statedir-'));
  dirs.push(dir);
  expect(prepareStateDir(dir, EMBEDDED)).toEqual([]); // a first start
  const store = await EmbeddedStore.open(join(dir, 'store'));
  await store.put('/weft/tenants/acme', '{"name":"acme"}');
  await store.close();
  new StateFile(dir).save({ version: 1, ports: [], vteps: [{ net: 'blue.default', ip: '10.250.0.2' }] });
  new EndpointsFile(dir).save({ version: 1, endpoints: [{ tenant: 'default', net: 'blue', name: 'c1', ip: '10.1.0.3', mac: '02:57:0a:01:00:03' }] });
  writeManifest(dir, { embeddedStore: true });
  return dir;
}

/** The one-line error prepareStateDir refuses with. */
function refusal(dir: string, opts = EMBEDDED): string {
  try {
    prepareStateDir(dir, opts);
  } catch (err) {
    const msg = (err as Error).message;
    expect(msg.split('\n')).toHaveLength(1);
    return msg;
  }
  throw new Error('expected a refusal');
}

describe('prepareStateDir', () => {
  it('a directory a daemon left intact starts, again and again', async () => {
    const dir = await started();
    expect(prepareStateDir(dir, EMBEDDED)).toEqual([]);
    expect(prepareStateDir(dir, EMBEDDED)).toEqual([]);
    expect(readdirSync(dir).sort()).toEqual(['endpoints.json', 'state.json', 'store', MANIFEST].sort());
  });

  const cases: Array<[string, (dir: string) => void, RegExp]> = [
    ['a deleted endpoints.json', (d) => unlinkSync(join(d, 'endpoints.json')), /^state file \S+\/endpoints\.json is missing, though this state directory had it: put it back, or start with --recover-state to go on without it$/],
    ['a deleted state.json', (d) => unlinkSync(join(d, 'state.json')), /^state file \S+\/state\.json is missing/],
    ['a truncated state.json', (d) => truncateSync(join(d, 'state.json'), 20), /^state file \S+\/state\.json is damaged \(not valid JSON: .*\): put back a good copy, or start with --recover-state to set it aside$/],
    ['an emptied endpoints.json', (d) => truncateSync(join(d, 'endpoints.json'), 0), /^state file \S+\/endpoints\.json is damaged \(empty\)/],
    ['a state.json that is JSON but not state', (d) => writeFileSync(join(d, 'state.json'), '{"version":1}'), /state\.json is damaged \(not a weft state file\)/],
    ['a lost store directory', (d) => rmSync(join(d, 'store'), { recursive: true }), /^state file \S+\/store\/store\.json is missing/],
    ['a corrupt store snapshot', (d) => writeFileSync(join(d, 'store', 'store.json'), '{"format":"weft-st'), /^state file \S+\/store\/store\.json is damaged \(not valid JSON/],
    ['a damaged line inside the store log', (d) => writeFileSync(join(d, 'store', 'store.log'), 'garbage\n{"r":99,"o":[]}\n'), /^state file \S+\/store\/store\.log is damaged \(line 1 is not valid JSON\)/],
    ['a damaged manifest', (d) => writeFileSync(join(d, MANIFEST), '{'), /^state file \S+\/weft-state\.json is damaged/],
    // Without a manifest the files any start writes must still be there together.
    ['a deleted manifest and a deleted endpoints.json', (d) => (unlinkSync(join(d, MANIFEST)), unlinkSync(join(d, 'endpoints.json'))), /endpoints\.json is missing/],
    ['a deleted manifest and a lost store', (d) => (unlinkSync(join(d, MANIFEST)), rmSync(join(d, 'store'), { recursive: true })), /store\/store\.json is missing/],
  ];
  for (const [what, damage, message] of cases) {
    it(`refuses ${what} in one line, changing nothing`, async () => {
      const dir = await started();
      damage(dir);
      const before = readdirSync(dir).sort();
      expect(refusal(dir)).toMatch(message);
      expect(readdirSync(dir).sort()).toEqual(before);
    });
  }

  it('counts the other problems in the same line', async () => {
    const dir = await started();
    unlinkSync(join(dir, 'endpoints.json'));
    unlinkSync(join(dir, 'state.json'));
    expect(refusal(dir)).toMatch(/ \(and 1 more problem\): /);
  });

  it('with an etcd store, the embedded store\'s files are not asked for', async () => {
    const dir = await started();
    rmSync(join(dir, 'store'), { recursive: true });
    expect(prepareStateDir(dir, { embeddedStore: false, recover: false })).toEqual([]);
  });

  it('--recover-state sets damaged files aside, gives up missing ones and says so, then the directory starts clean', async () => {
    const dir = await started();
    truncateSync(join(dir, 'state.json'), 5);
    unlinkSync(join(dir, 'endpoints.json'));
    const said = prepareStateDir(dir, RECOVER);
    expect(said).toHaveLength(2);
    expect(said[0]).toMatch(/endpoints\.json was missing: going on without it$/);
    expect(said[1]).toMatch(/state\.json is damaged \(not valid JSON: .*\): set aside as \S+\/state\.json\.damaged-\d{4}-\d\d-\d\dT[\d-]+Z$/);
    expect(readdirSync(dir).filter((f) => f.startsWith('state.json.damaged-'))).toHaveLength(1);
    expect(existsSync(join(dir, 'state.json'))).toBe(false);
    // What is left is read as it is: the store is untouched.
    const store = await EmbeddedStore.open(join(dir, 'store'));
    expect((await store.get('/weft/tenants/acme'))?.value).toBe('{"name":"acme"}');
    await store.close();
    new StateFile(dir).save({ version: 1, ports: [] });
    new EndpointsFile(dir).save({ version: 1, endpoints: [] });
    writeManifest(dir, { embeddedStore: true });
    expect(prepareStateDir(dir, EMBEDDED)).toEqual([]);
  });

  it('--recover-state sets a damaged snapshot aside with its log (which cannot be replayed alone)', async () => {
    const dir = await started();
    writeFileSync(join(dir, 'store', 'store.log'), '{"r":3,"o":[{"p":"/k","v":"v"}]}\n');
    writeFileSync(join(dir, 'store', 'store.json'), 'xx');
    const said = prepareStateDir(dir, RECOVER);
    expect(said.map((l) => l.replace(/\S+\/(store\/\S+?)(\.damaged-\S+)?(?=[: ]|$)/g, '$1'))).toEqual([
      'store/store.json is damaged (not valid JSON: Unexpected token \'x\', "xx" is not valid JSON): set aside as store/store.json',
      'store/store.log belongs to the damaged snapshot: set aside as store/store.log',
    ]);
    const store = await EmbeddedStore.open(join(dir, 'store'));
    expect((await store.list('/')).items).toEqual([]);
    await store.close();
  });

  it('makes the directory 0700 and tightens files left readable to 0600', async () => {
    const dir = await started();
    chmodSync(dir, 0o755);
    chmodSync(join(dir, 'store'), 0o755);
    chmodSync(join(dir, 'state.json'), 0o644);
    chmodSync(join(dir, 'store', 'store.json'), 0o644);
    prepareStateDir(dir, EMBEDDED);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, 'store')).mode & 0o777).toBe(0o700);
    for (const f of ['state.json', 'endpoints.json', MANIFEST, 'store/store.json', 'store/store.log']) expect(statSync(join(dir, f)).mode & 0o777, f).toBe(0o600);
  });

  it('a first start that failed after making its store does not block the next start', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'weft-statedir-'));
    dirs.push(dir);
    expect(prepareStateDir(dir, EMBEDDED)).toEqual([]);
    const store = await EmbeddedStore.open(join(dir, 'store'));
    await store.close(); // ... and the daemon failed before writing state.json
    expect(prepareStateDir(dir, EMBEDDED)).toEqual([]);
    // The store it made is now listed: losing it is an error.
    rmSync(join(dir, 'store'), { recursive: true });
    expect(refusal(dir)).toMatch(/store\/store\.json is missing/);
  });

  it('a fresh directory is made 0700', () => {
    const parent = mkdtempSync(join(tmpdir(), 'weft-statedir-'));
    dirs.push(parent);
    const dir = join(parent, 'a', 'b');
    expect(prepareStateDir(dir, EMBEDDED)).toEqual([]);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
  });
});
