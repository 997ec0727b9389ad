// Loads the C++ add-on. This file is the only importer of the .node binary.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface NativeLayout {
  global: string[];
  drops: string[];
  port: string[];
  globalBase: number;
  dropBase: number;
  portBase: number;
  portStride: number;
  blockLen: number;
  maxPorts: number;
  maxNetworks: number;
  hitSlots: number;
  /** Bytes before each frame in an onFrames buffer (port, network, length, pad). */
  frameRecordHdrLen: number;
}

export interface NativeDatapath {
  addTapPort(id: number, network: number, ifname: string, mtu: number): void;
  addPacketPort(id: number, network: number, ifname: string, mtu: number): void;
  addServicePort(id: number, network: number, mtu: number): void;
  removePort(id: number): boolean;
  setUnderlay(localIp: string, vxlanPort: number): void;
  setNetworkEncap(network: number, encap: number, vni: number): void;
  clearNetworkEncap(network: number): void;
  addTunnelPort(id: number, network: number, remoteIp: string, flood: boolean, mtu: number): void;
  arpApply(ops: Float64Array): void;
  fibApply(ops: Float64Array): void;
  fibSize(): number;
  inject(port: number, frame: Buffer): void;
  maintain(): number;
  now(): number;
  close(): void;
  readonly counters: BigUint64Array;
  readonly hits: Float64Array;
}

interface Addon {
  Datapath: new (opts: {
    workers: number;
    onEvents: (records: Buffer) => void;
    onFrames?: (records: Buffer) => void;
  }) => NativeDatapath;
  layout: NativeLayout;
}

// The package root is the first directory above this file holding binding.gyp
// (src/datapath when run from source, dist/src/datapath when compiled).
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'binding.gyp'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the weft package root (binding.gyp)');
    dir = up;
  }
  return dir;
}

const require = createRequire(import.meta.url);
export const addon: Addon = require(join(packageRoot(), 'build', 'Release', 'weft.node'));
