// A TCP connection opened from inside another network namespace (a
// container's), for health checks: the add-on makes the socket there (see
// native/netns_socket.cc) and Node connects it like any other.
import { Socket } from 'node:net';
import { addon } from './native.js';

/** Connects to `host:port` as seen from the namespace at `netnsPath`; throws when the namespace cannot be entered. */
export function connectIn(netnsPath: string, port: number, host: string): Socket {
  const socket = new Socket({ fd: addon.socketIn(netnsPath) });
  return socket.connect(port, host);
}
