// podman 4.3.1 (Debian 12) as a CNI client of weft, as cni-podman.test.ts
// runs it: nothing system-wide changes. CONTAINERS_CONF forces the CNI
// backend with the plugin and network directories in a temp dir,
// --root/--runroot keep images and containers there too; crun refuses this
// machine's hybrid cgroup layout, so podman runs in a mount namespace of its
// own without the cgroup2 hierarchy (/run/netns stays shared, so the daemons
// see the namespaces podman makes). The image is busybox, imported.
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { weft } from './lab.js';
import { sh, type RunResult } from './sh.js';

export const PODMAN_IMAGE = 'localhost/weft-busybox:1';
/** Limits podman would raise past what this machine grants (no CAP_SYS_RESOURCE in the bounding set). */
export const PODMAN_LIMITS = ['--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024'];

export interface Podman {
  dir: string;
  podman(...args: string[]): Promise<RunResult>;
}

/** A temp dir with weft's plugin, the given conflists, a containers.conf forcing CNI, and the image imported. */
export async function podmanWith(prefix: string, conflists: Record<string, string>): Promise<Podman> {
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
  for (const d of ['bin', 'net.d', 'tmp', 'rootfs/bin', 'rootfs/etc', 'rootfs/proc', 'rootfs/sys', 'rootfs/dev', 'rootfs/tmp']) mkdirSync(join(dir, d), { recursive: true });
  const inst = await weft(undefined, 'cni', 'install', '--dir', join(dir, 'bin'));
  if (inst.code !== 0) throw new Error(`weft cni install: ${inst.stderr.trim()}`);
  for (const [name, text] of Object.entries(conflists)) writeFileSync(join(dir, 'net.d', `${name}.conflist`), text);
  writeFileSync(
    join(dir, 'containers.conf'),
    [
      '[network]',
      'network_backend = "cni"',
      `cni_plugin_dirs = ["${dir}/bin", "/usr/lib/cni"]`,
      `network_config_dir = "${dir}/net.d"`,
      '[engine]',
      'cgroup_manager = "cgroupfs"',
      'events_logger = "file"',
      `events_logfile_path = "${dir}/events.log"`,
      `tmp_dir = "${dir}/tmp"`,
      '',
    ].join('\n'),
  );
  const wrapper = join(dir, 'podman.sh');
  writeFileSync(
    wrapper,
    `#!/bin/sh\nexec unshare -m --propagation unchanged sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; exec podman --root ${dir}/root --runroot ${dir}/runroot --storage-driver vfs "$@"' podman "$@"\n`,
  );
  chmodSync(wrapper, 0o755);
  const env = { ...process.env, CONTAINERS_CONF: join(dir, 'containers.conf') };
  const podman = (...args: string[]) => sh(wrapper, args, { env, timeoutMs: 90_000 });
  copyFileSync('/bin/busybox', join(dir, 'rootfs/bin/busybox'));
  chmodSync(join(dir, 'rootfs/bin/busybox'), 0o755);
  for (const a of ['sh', 'ip', 'ping', 'cat', 'sleep', 'nslookup']) symlinkSync('busybox', join(dir, 'rootfs/bin', a));
  const imp = await sh('sh', ['-c', `tar -C ${dir}/rootfs -c . | ${wrapper} import - ${PODMAN_IMAGE}`], { env });
  if (imp.code !== 0) throw new Error(`podman import: ${imp.stderr.trim()}`);
  return { dir, podman };
}
