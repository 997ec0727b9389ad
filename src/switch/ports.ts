// The kinds of port the switch has, what each is added from, and the record
// the switch keeps of it (Switch.addTap, attachPacket, addTunnel, addService,
// addUplink, addVlanPort).
import type { PortGuard } from '../datapath/datapath.js';

/**
 * 'uplink': a host interface read as an 802.1Q trunk (network 0: it only
 * receives, demuxed by VID); 'vlan': one VLAN of a trunk on a network.
 */
export type PortKind = 'tap' | 'packet' | 'tunnel' | 'service' | 'uplink' | 'vlan';

export interface PortRecord {
  id: number;
  name: string;
  network: number;
  kind: PortKind;
  /** For TAP ports: the namespace and interface name the container sees. */
  netns?: string;
  ifname: string;
  mac?: string;
  ip?: string;
  /** For tunnel ports: the remote VTEP. */
  vtep?: string;
  /** For tunnel ports: the VTEP takes VXLAN-GBP (frames leave with their group id). */
  gbp?: boolean;
  /** Uplink and VLAN ports: the physnet the interface carries. */
  physnet?: string;
  /** VLAN ports: the VLAN id, and the id of the trunk port whose socket sends. */
  vlan?: number;
  uplink?: number;
  mtu: number;
  /**
   * An endpoint's port (TAP): its MAC is a static entry, and the data path
   * checks what it sends (port security). Other ports learn.
   */
  guarded?: boolean;
  /** A guarded port that may send router advertisements, DHCP server messages and routed packets. */
  router?: boolean;
}

/** A TAP device the data path makes (or, after a restart, opens again) in a namespace. */
export interface TapSpec {
  name: string;
  network: number;
  ifname: string;
  mtu: number;
  mac: number;
  /** The namespace the device is made in, as a path (/run/netns/NAME, /proc/self/ns/net). */
  netnsPath: string;
  /** The namespace's name, for listings, when the device stays in a named one. */
  netns?: string;
  /** Address with prefix length, for listings (the port does not use it). */
  ip?: string;
  /**
   * An endpoint's port: it may send only as its MAC and `ip` (IPv4, host
   * order; 0 without one), and its MAC is a static entry. Without it the
   * port learns like any other.
   */
  guard?: Omit<PortGuard, 'mac'>;
}

/** An existing interface attached by AF_PACKET. */
export interface PacketSpec {
  iface: string;
  network: number;
  mtu: number;
  /** The interface's own MAC, for listings. */
  mac?: string;
}

/** A remote VTEP of a network; `flood`: it gets the network's broadcasts. */
export interface TunnelSpec {
  network: number;
  vtep: string;
  flood: boolean;
  mtu: number;
  /** The VTEP takes VXLAN-GBP (a weft host advertising `gbp`, a static VTEP added with --gbp). */
  gbp?: boolean;
}

/** A port with no device (in-band DNS): its frames go to the switch's frames listener. */
export interface ServiceSpec {
  name: string;
  network: number;
  mtu: number;
}

/** A host interface opened as a physnet's trunk (`weft host uplink set`). */
export interface UplinkSpec {
  physnet: string;
  iface: string;
  mtu: number;
}

/** One VLAN of an open trunk (`uplink`: its port id) on a network. */
export interface VlanPortSpec {
  network: number;
  uplink: number;
  physnet: string;
  iface: string;
  vlan: number;
  mtu: number;
}
