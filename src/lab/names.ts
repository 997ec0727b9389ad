// The namespaces a lab makes, by name: every part of the lab (hosts,
// containers, physical switches and their machines) derives them from here.
export const hostNetns = (lab: string, host: string) => `${lab}-${host}`;
export const containerNetns = (lab: string, host: string, c: string) => `${lab}-${host}-${c}`;
/** A physnet's switch is <lab>-<physnet>, each of its machines <lab>-<machine>. */
export const physnetPrefix = (lab: string) => `${lab}-`;
